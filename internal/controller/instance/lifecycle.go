package instance

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/rgd-dev/rgd/internal/inventory"
	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/graph"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

// A child's lifecycle beyond create, apply and delete: children left in
// place (released) instead of deleted, per their resource's deletionPolicy,
// and fields rgd leaves to another field manager (externalFields).

// deletionPolicyAnnotation is the annotation that records a deletion policy
// on a child, in kro's key for the spelling used; "" for Delete, the
// default, which is recorded by the annotation's absence.
func deletionPolicyAnnotation(p v1alpha1.DeletionPolicy) string {
	switch p {
	case v1alpha1.DeletionPolicyOrphaned:
		return metadata.AnnotationDeletionPolicy
	case v1alpha1.DeletionPolicyDetach:
		return metadata.AnnotationDeletionPolicyDetach
	}
	return ""
}

// releaseChild leaves a child in place and strips rgd's labels and
// annotations from it, so that nothing of rgd's claims it any more: no
// instance, cache or later deletion sees it as rgd's. Its ownerReferences,
// which rgd never sets, are left alone. The patch carries the child's UID,
// so an object that replaced it under its name is not touched. It reports
// whether the child is released (or gone). It patches as act.
func (r *Reconciler) releaseChild(ctx context.Context, act actor, live *unstructured.Unstructured, e inventory.Entry) (bool, error) {
	md := map[string]any{"uid": string(live.GetUID())}
	if strip := childKeys(live.GetLabels()); len(strip) > 0 {
		md["labels"] = strip
	}
	if strip := childKeys(live.GetAnnotations()); len(strip) > 0 {
		md["annotations"] = strip
	}
	body, err := json.Marshal(map[string]any{"metadata": md})
	if err != nil {
		return false, err
	}
	gvr := e.GVR()
	_, err = act.dyn.Resource(gvr).Namespace(e.Namespace).Patch(ctx, e.Name, types.MergePatchType, body,
		metav1.PatchOptions{FieldManager: metadata.FieldManagerChildren})
	switch {
	case apierrors.IsNotFound(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("releasing %s (left in place by its deletionPolicy): %w", e, act.refused(err, "patch", e))
	}
	wk := writtenKey{gvr: gvr, namespace: e.Namespace, name: e.Name}
	r.memory.forgetChild(wk, live.GetUID())
	r.deletions.settle(wk)
	return true, nil
}

// childKeys returns a merge patch's removal of rgd's keys among m's.
func childKeys(m map[string]string) map[string]any {
	out := map[string]any{}
	for k := range m {
		if metadata.IsChildKey(k) {
			out[k] = nil
		}
	}
	return out
}

// leaveExternalFields removes from a desired child the external fields of
// its resource that a field manager other than rgd's has written on the
// live child (nil: not created yet), so that rgd's apply leaves them to that
// manager: an autoscaler owning spec.replicas keeps its value, and the rest
// of the child stays in sync. rgd applies an external field as long as
// nobody else has written it.
func leaveExternalFields(res *graph.Resource, desired, live *unstructured.Unstructured, instUID types.UID) {
	if live == nil || live.GetLabels()[metadata.LabelInstanceID] != string(instUID) {
		return
	}
	managed := live.GetManagedFields()
	for _, path := range res.ExternalFields {
		if writtenByOthers(managed, path) {
			unstructured.RemoveNestedField(desired.Object, path...)
		}
	}
}

// applyOwned applies an update of one of the instance's children, forcing
// rgd's fields back. A child whose desired state still holds external
// fields is applied without force first: should another manager have
// written one since the cache was read, the API server refuses the apply
// (a conflict) instead of rgd taking the field back, and rgd reads the child
// again, leaves what others wrote and forces the rest.
func (p *pass) applyOwned(ctx context.Context, client dynamic.ResourceInterface, a *action) (*unstructured.Unstructured, error) {
	opts := metav1.ApplyOptions{FieldManager: metadata.FieldManagerChildren, Force: true}
	if holdsExternalFields(a.node, a.obj) {
		out, err := client.Apply(ctx, a.obj.GetName(), a.obj, metav1.ApplyOptions{FieldManager: metadata.FieldManagerChildren})
		if !apierrors.IsConflict(err) {
			return out, err
		}
		fresh, err := client.Get(ctx, a.obj.GetName(), metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		leaveExternalFields(a.node, a.obj, fresh, p.inst.GetUID())
		stampDesiredHash(a.obj)
	}
	return client.Apply(ctx, a.obj.GetName(), a.obj, opts)
}

// holdsExternalFields reports whether a desired child holds any of its
// resource's external fields.
func holdsExternalFields(res *graph.Resource, desired *unstructured.Unstructured) bool {
	for _, path := range res.ExternalFields {
		if _, found, _ := unstructured.NestedFieldNoCopy(desired.Object, path...); found {
			return true
		}
	}
	return false
}

// stampDesiredHash fingerprints a decorated child again after a change (see
// decorate), as if the change had come before decorate.
func stampDesiredHash(u *unstructured.Unstructured) {
	annotations := u.GetAnnotations()
	delete(annotations, metadata.AnnotationDesiredHash)
	u.SetAnnotations(annotations)
	annotations[metadata.AnnotationDesiredHash] = hashObject(u.Object)
	u.SetAnnotations(annotations)
}

// writtenByOthers reports whether a field manager other than rgd's owns the
// field at path, or a field below it, or the whole of an atomic field above
// it, according to an object's managedFields.
func writtenByOthers(managed []metav1.ManagedFieldsEntry, path []string) bool {
	for _, m := range managed {
		if m.Manager == metadata.FieldManagerChildren || m.FieldsV1 == nil {
			continue
		}
		var set map[string]any
		if err := json.Unmarshal(m.FieldsV1.Raw, &set); err != nil {
			continue
		}
		if ownsPath(set, path) {
			return true
		}
	}
	return false
}

// ownsPath walks a fieldsV1 set (keys "f:<name>") along path.
func ownsPath(set map[string]any, path []string) bool {
	for i, key := range path {
		next, ok := set["f:"+key].(map[string]any)
		if !ok {
			return false
		}
		if len(next) == 0 && i < len(path)-1 {
			return true // an atomic field above path, owned as a whole
		}
		set = next
	}
	return true
}
