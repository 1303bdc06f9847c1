package instance

import (
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// An instance's informer lags rgd's own writes of it by a few milliseconds,
// and a reconcile often starts inside that window: the metadata write of a
// first pass triggers the next reconcile, and a child's event can arrive
// before the instance's. Read from the cache alone, that reconcile would see
// the status from before rgd's last write, write it again, and fail on the
// stale resourceVersion (409). So rgd keeps what its last write of each
// instance returned until the cache has it.

// rememberInstance records the object rgd's write of an instance returned.
func (r *Reconciler) rememberInstance(gvr schema.GroupVersionResource, written *unstructured.Unstructured) {
	k := writtenKey{gvr: gvr, namespace: written.GetNamespace(), name: written.GetName()}
	r.instanceWrites.Store(k, writtenObject{obj: written, at: time.Now()})
}

// latestInstance returns the newer of the cached instance and rgd's last
// write of it. The write stands in only while it is recent, for the same
// object (UID), and newer than the cache; otherwise it is forgotten.
func (r *Reconciler) latestInstance(gvr schema.GroupVersionResource, cached *unstructured.Unstructured) *unstructured.Unstructured {
	k := writtenKey{gvr: gvr, namespace: cached.GetNamespace(), name: cached.GetName()}
	v, ok := r.instanceWrites.Load(k)
	if !ok {
		return cached
	}
	w := v.(writtenObject)
	if time.Since(w.at) <= writtenTTL && w.obj.GetUID() == cached.GetUID() && olderVersion(cached, w.obj) {
		return w.obj
	}
	r.instanceWrites.CompareAndDelete(k, v)
	return cached
}

// isOwnWrite reports whether obj is exactly the version of an instance that
// rgd's last write of it produced.
func (r *Reconciler) isOwnWrite(gvr schema.GroupVersionResource, obj *unstructured.Unstructured) bool {
	v, ok := r.instanceWrites.Load(writtenKey{gvr: gvr, namespace: obj.GetNamespace(), name: obj.GetName()})
	if !ok {
		return false
	}
	w := v.(writtenObject).obj
	return w.GetUID() == obj.GetUID() && w.GetResourceVersion() == obj.GetResourceVersion()
}

// writtenObject is a child as rgd's write returned it.
type writtenObject struct {
	obj *unstructured.Unstructured
	at  time.Time
}

// writtenTTL bounds how long a write stands in for the cache: informers
// catch up in milliseconds, and a longer wait means something else happened.
const writtenTTL = 5 * time.Second

// olderVersion reports whether a's resourceVersion is older than b's. They
// are opaque strings to clients, but etcd's are increasing integers; when
// they are not numbers, the cache is trusted.
func olderVersion(a, b *unstructured.Unstructured) bool {
	va, errA := strconv.ParseUint(a.GetResourceVersion(), 10, 64)
	vb, errB := strconv.ParseUint(b.GetResourceVersion(), 10, 64)
	return errA == nil && errB == nil && va < vb
}
