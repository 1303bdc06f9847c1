package reconciler

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

// finalize deletes an instance's children from its inventory, the highest
// wave first, waiting for each wave to be gone, then releases the instance.
// It needs neither the graph nor CEL, so it works when the RGD is broken.
func (r *Reconciler) finalize(ctx context.Context, st *kindState, key Key, inst *unstructured.Unstructured, inv Inventory) (result, error) {
	if !slices.Contains(inst.GetFinalizers(), metadata.Finalizer) {
		r.forget(key)
		return result{}, nil
	}
	var res result
	for len(inv) > 0 {
		wave := inv.lastWave()
		var gone []Entry
		var blocking []string
		for _, e := range wave {
			if _, cached := r.watches.Cache(childKey(e.GVR())); !cached {
				// No informer tells us when it is gone: look again soon.
				res.requeueAfter = 2 * time.Second
			}
			done, err := r.deleteChild(ctx, inst, e)
			if err != nil {
				return result{}, err
			}
			if done {
				gone = append(gone, e)
			} else {
				blocking = append(blocking, e.String())
			}
		}
		// Entries of children confirmed gone stay in the annotation until
		// the finalizer goes (a later pass confirms them again with one
		// read), which saves a write per wave and loses nothing on a crash.
		inv = inv.without(gone...)
		if len(blocking) > 0 {
			return r.deletionBlocked(ctx, st, inst, blocking, len(inv), res)
		}
	}
	r.deleting.Delete(inst.GetUID())
	finalizers := slices.DeleteFunc(slices.Clone(inst.GetFinalizers()), func(f string) bool { return f == metadata.Finalizer })
	patch := map[string]any{"metadata": map[string]any{
		"resourceVersion": inst.GetResourceVersion(),
		"finalizers":      finalizers,
	}}
	if _, err := r.patchInstance(ctx, st, inst, patch); err != nil {
		return result{}, err
	}
	r.countState(inst, "")
	r.forget(key)
	return result{}, nil
}

// deletionBlocked reports a wave that is not gone yet. A wave usually goes in
// milliseconds, so the status names the children that block deletion only
// once they have blocked it for deletionReportAfter: quick deletions cost no
// status writes beyond the first.
func (r *Reconciler) deletionBlocked(ctx context.Context, st *kindState, inst *unstructured.Unstructured, blocking []string, left int, res result) (result, error) {
	sig := strings.Join(blocking, ",")
	now := time.Now()
	v, _ := r.deleting.LoadOrStore(inst.GetUID(), deletionWave{sig: sig, since: now})
	w := v.(deletionWave)
	if w.sig != sig {
		w = deletionWave{sig: sig, since: now}
		r.deleting.Store(inst.GetUID(), w)
	}
	msg := "deleting children"
	if waited := now.Sub(w.since); waited >= deletionReportAfter || stateOf(inst) != v1alpha1.InstanceStateDeleting {
		if waited >= deletionReportAfter {
			msg = fmt.Sprintf("deleting children: waiting for %s to be gone (%d left in all)", strings.Join(blocking, ", "), left)
		}
		if err := r.writeStatus(ctx, st.gvr, inst, currentStatusFields(inst), v1alpha1.InstanceStateDeleting, []condition{
			{typ: v1alpha1.ConditionInstanceManaged, ok: true, reason: "Managed", message: "instance is managed by rgd"},
			{typ: v1alpha1.ConditionResourcesReady, unknown: true, reason: "UnderDeletion", message: msg},
		}); err != nil {
			return result{}, err
		}
	}
	if now.Sub(w.since) < deletionReportAfter {
		// Come back to name the blockers if the wave is still there then.
		res.requeueAfter = deletionReportAfter
	}
	return res, nil
}

// deletionReportAfter is how long a deletion wave may take before the
// instance status names the children it waits for.
const deletionReportAfter = 2 * time.Second

// deletionWave is the wave an instance's deletion waits for, and since when.
type deletionWave struct {
	sig   string
	since time.Time
}
