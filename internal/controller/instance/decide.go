package instance

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/rgd-dev/rgd/pkg/metadata"
)

// The decision about one desired child, apart from the caches it reads, so
// that a table test covers every case (decide_test.go).

// childView is what deciding about a child reads of the cluster.
type childView interface {
	// Owned returns the object of rgd's under the child's name, as the
	// cache has it or as rgd's latest write of it returned, whichever is
	// newer; nil when there is none.
	Owned(gvr schema.GroupVersionResource, namespace, name string) *unstructured.Unstructured
	// Foreign reports whether an object rgd did not create holds the name.
	Foreign(gvr schema.GroupVersionResource, namespace, name string) bool
	// UpToDate reports whether applying desired to live would change
	// nothing.
	UpToDate(live, desired *unstructured.Unstructured) bool
}

// verdict is what a desired child needs.
type verdict int

const (
	// verdictCreate: the name is free; create the child.
	verdictCreate verdict = iota + 1
	// verdictAdopt: an object rgd did not create holds the name, and the
	// RGD allows taking it over.
	verdictAdopt
	// verdictRefuseForeign: an object rgd did not create holds the name;
	// it is not touched.
	verdictRefuseForeign
	// verdictRefuseOtherInstance: the object is rgd's, but another
	// instance's; it is not touched.
	verdictRefuseOtherInstance
	// verdictWaitDeleting: this instance's child is being deleted; create
	// it again once it is gone.
	verdictWaitDeleting
	// verdictUpToDate: the live child holds the desired state; no write.
	verdictUpToDate
	// verdictApply: the live child differs (drift, or a new desired
	// state); apply.
	verdictApply
)

// decideChild decides about one desired child of the instance instUID, and
// returns the live object the verdict is about (nil for a create or a
// foreign object).
func decideChild(view childView, gvr schema.GroupVersionResource, desired *unstructured.Unstructured, instUID types.UID, adopt bool) (verdict, *unstructured.Unstructured) {
	ns, name := desired.GetNamespace(), desired.GetName()
	live := view.Owned(gvr, ns, name)
	switch {
	case live == nil && !view.Foreign(gvr, ns, name):
		return verdictCreate, nil
	case live == nil && adopt:
		return verdictAdopt, nil
	case live == nil:
		return verdictRefuseForeign, nil
	case live.GetLabels()[metadata.LabelInstanceID] != string(instUID):
		return verdictRefuseOtherInstance, live
	case live.GetDeletionTimestamp() != nil:
		return verdictWaitDeleting, live
	case view.UpToDate(live, desired):
		return verdictUpToDate, live
	}
	return verdictApply, live
}

// cacheView is the childView of the running engine: the informer caches,
// rgd's own recent writes, and its record of what it applied.
type cacheView struct{ r *Reconciler }

// Owned reads rgd's cache of the kind's children, and rgd's latest write of
// the child while the cache has not caught up with it.
func (v cacheView) Owned(gvr schema.GroupVersionResource, namespace, name string) *unstructured.Unstructured {
	var live *unstructured.Unstructured
	if cache, ok := v.r.watches.Cache(childKey(gvr)); ok {
		live, _ = cache.Get(namespace, name)
	}
	return v.r.memory.latestChild(writtenKey{gvr: gvr, namespace: namespace, name: name}, live)
}

// Foreign reads the metadata cache of the kind's objects rgd does not own.
func (v cacheView) Foreign(gvr schema.GroupVersionResource, namespace, name string) bool {
	cache, ok := v.r.watches.Cache(foreignKey(gvr))
	if !ok {
		return false
	}
	_, found := cache.Get(namespace, name)
	return found
}

// UpToDate is Reconciler.upToDate.
func (v cacheView) UpToDate(live, desired *unstructured.Unstructured) bool {
	return v.r.upToDate(live, desired)
}
