package instance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/rgd-dev/rgd/internal/conditions"
	"github.com/rgd-dev/rgd/internal/inventory"
	"github.com/rgd-dev/rgd/internal/reconcile"
	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

// finalize deletes an instance's children from its inventory, the highest
// wave first, waiting for each wave to be gone, then releases the instance.
// It needs neither the graph nor CEL, so it works when the RGD is broken.
func (r *Reconciler) finalize(ctx context.Context, st *kindState, key Key, inst *unstructured.Unstructured, inv inventory.Inventory) (reconcile.Result, error) {
	if !slices.Contains(inst.GetFinalizers(), metadata.Finalizer) {
		r.forget(key)
		return reconcile.Result{}, nil
	}
	var res reconcile.Result
	for len(inv) > 0 {
		wave := inv.LastWave()
		for _, e := range wave {
			if _, cached := r.watches.Cache(childKey(e.GVR())); !cached {
				// No informer tells us when it is gone: look again soon.
				res.RequeueAfter = 2 * time.Second
			}
		}
		// The children of one wave do not depend on each other: they are
		// deleted in parallel, as many at once as a wave's writes. No event
		// per child: events on an instance that is about to disappear cost
		// writes and are seen by nobody.
		done := make([]bool, len(wave))
		errs := make([]error, len(wave))
		var g errgroup.Group
		g.SetLimit(r.opts.ApplyConcurrency)
		for i, e := range wave {
			g.Go(func() error {
				done[i], _, errs[i] = r.deleteChild(ctx, inst, e)
				return nil
			})
		}
		_ = g.Wait() // errors are in errs
		if err := errors.Join(errs...); err != nil {
			return reconcile.Result{}, r.deletionRefused(ctx, st, inst, err)
		}
		var gone []inventory.Entry
		var blocking []string
		for i, e := range wave {
			if done[i] {
				gone = append(gone, e)
			} else {
				blocking = append(blocking, e.String())
			}
		}
		// Entries of children confirmed gone stay in the annotation until
		// the finalizer goes (a later pass confirms them again with one
		// read), which saves a write per wave and loses nothing on a crash.
		// When the API server's answers prove a whole wave gone, the next
		// wave follows in this same pass.
		inv = inv.Without(gone...)
		if len(blocking) > 0 {
			return r.deletionBlocked(ctx, st, inst, blocking, len(inv), res)
		}
	}
	r.memory.deletionDone(inst.GetUID())
	finalizers := slices.DeleteFunc(slices.Clone(inst.GetFinalizers()), func(f string) bool { return f == metadata.Finalizer })
	patch := map[string]any{"metadata": map[string]any{
		"resourceVersion": inst.GetResourceVersion(),
		"finalizers":      finalizers,
	}}
	if _, err := r.patchInstance(ctx, st, inst, patch); err != nil {
		return reconcile.Result{}, err
	}
	r.countState(inst, "")
	r.forget(key)
	return reconcile.Result{}, nil
}

// deletionBlocked reports a wave that is not gone yet. A wave usually goes in
// milliseconds, so the status says DELETING, naming the children that block
// deletion, only once they have blocked it for deletionReportAfter: a quick
// deletion costs no status write at all (its deletionTimestamp already says
// that it is under way).
func (r *Reconciler) deletionBlocked(ctx context.Context, st *kindState, inst *unstructured.Unstructured, blocking []string, left int, res reconcile.Result) (reconcile.Result, error) {
	now := time.Now()
	started := r.memory.deletionStarted(inst.GetUID(), now)
	if now.Sub(started) >= deletionReportAfter {
		msg := fmt.Sprintf("deleting children: waiting for %s to be gone (%d left in all)", strings.Join(blocking, ", "), left)
		if err := r.writeStatus(ctx, st.gvr, inst, currentStatusFields(inst), v1alpha1.InstanceStateDeleting, []metav1.Condition{
			managed(),
			conditions.Unknown(condResourcesReady, "UnderDeletion", msg),
		}); err != nil {
			return reconcile.Result{}, err
		}
	}
	if left := deletionReportAfter - now.Sub(started); left > 0 {
		// Come back to report the blockers if they are still there then.
		res.RequeueAfter = left
	}
	return res, nil
}

// deletionRefused reports a deletion of children that the API server
// refused to the ServiceAccount they were written as: the status says
// DELETING and names the ServiceAccount, verb, kind and namespace, and err
// is returned, so that the deletion is retried with backoff as the same
// ServiceAccount until it is allowed. Other errors are returned as they are.
func (r *Reconciler) deletionRefused(ctx context.Context, st *kindState, inst *unstructured.Unstructured, err error) error {
	var refused *forbiddenError
	if !errors.As(err, &refused) {
		return err
	}
	msg := fmt.Sprintf("deleting children: %v (retrying with backoff)", err)
	if werr := r.writeStatus(ctx, st.gvr, inst, currentStatusFields(inst), v1alpha1.InstanceStateDeleting, []metav1.Condition{
		managed(),
		conditions.False(condResourcesReady, "DeletionRefused", msg),
	}); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}

// deletionReportAfter is how long an instance's deletion may take before its
// status says DELETING and names the children it waits for.
const deletionReportAfter = 2 * time.Second
