package instance

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/rgd-dev/rgd/internal/inventory"
	"github.com/rgd-dev/rgd/pkg/metadata"
	"github.com/rgd-dev/rgd/pkg/render"
)

// ensureManaged puts rgd's finalizer and labels on the instance (one write,
// the first time), before any child exists. It returns the instance and its
// inventory as they are after that write.
func (r *Reconciler) ensureManaged(ctx context.Context, st *kindState, inst *unstructured.Unstructured, inv inventory.Inventory) (*unstructured.Unstructured, inventory.Inventory, error) {
	labels := inst.GetLabels()
	wantLabels := map[string]string{
		metadata.LabelOwned:   "true",
		metadata.LabelRGDName: st.kind.RGDName,
		metadata.LabelRGDID:   string(st.kind.RGDUID),
	}
	needLabels := false
	for k, v := range wantLabels {
		if labels[k] != v {
			needLabels = true
		}
	}
	hasFinalizer := slices.Contains(inst.GetFinalizers(), metadata.Finalizer)
	_, hasInventory := inst.GetAnnotations()[metadata.AnnotationInventory]
	if !needLabels && hasFinalizer && hasInventory {
		return inst, inv, nil
	}
	// The first write also records the children the instance will have as
	// far as they can be known now (rendered with desired states standing
	// in for live ones), so that creating them usually needs no further
	// inventory write.
	inv, _ = inv.With(r.predictChildren(st, inst)...)
	patch := map[string]any{
		"metadata": map[string]any{
			"resourceVersion": inst.GetResourceVersion(),
			"labels":          wantLabels,
			"finalizers":      append(slices.Clone(inst.GetFinalizers()), finalizerIfMissing(hasFinalizer)...),
			"annotations":     map[string]any{metadata.AnnotationInventory: inv.Encode()},
		},
	}
	out, err := r.patchInstance(ctx, st, inst, patch)
	if err != nil {
		return nil, nil, err
	}
	return out, inv, nil
}

// predictChildren renders the graph offline, each rendered child standing in
// for its live state, and returns the children it would create. Whatever
// cannot be rendered yet (it needs live status or an external object) is
// left for the inventory writes of the walk.
func (r *Reconciler) predictChildren(st *kindState, inst *unstructured.Unstructured) []inventory.Entry {
	act, err := r.actorFor(st.kind.ServiceAccount, inst.GetNamespace())
	if err != nil {
		return nil // nothing is written: the pass says why
	}
	in := render.NewInputs(st.kind.Graph, inst.Object, nil).ObserveEvaluations(r.opts.EvalObserver)
	var out []inventory.Entry
	for _, rr := range render.Offline(st.kind.Graph, in, inst.GetNamespace(), render.Options{MaxCollectionSize: r.opts.MaxCollectionSize}) {
		if rr.Err != nil || rr.Resource.External || !rr.Result.Included || len(rr.Result.Pending) > 0 {
			continue
		}
		for _, obj := range rr.Result.Objects {
			e := st.layout.entry(rr.Resource, &unstructured.Unstructured{Object: obj})
			e.SA = act.sa
			out = append(out, e)
		}
	}
	return out
}

func finalizerIfMissing(has bool) []string {
	if has {
		return nil
	}
	return []string{metadata.Finalizer}
}

// patchInstance merge-patches the instance's metadata, guarded by its
// resourceVersion so that a concurrent change is never overwritten.
func (r *Reconciler) patchInstance(ctx context.Context, st *kindState, inst *unstructured.Unstructured, patch map[string]any) (*unstructured.Unstructured, error) {
	body, err := json.Marshal(patch)
	if err != nil {
		return nil, err
	}
	out, err := r.dyn.Resource(st.gvr).Namespace(inst.GetNamespace()).Patch(ctx, inst.GetName(), types.MergePatchType, body, metav1.PatchOptions{FieldManager: metadata.FieldManagerInstance})
	if err != nil {
		return nil, fmt.Errorf("updating instance %s/%s: %w", inst.GetNamespace(), inst.GetName(), err)
	}
	r.memory.rememberInstance(st.gvr, out)
	return out, nil
}

// recordInventory adds entries to the instance's inventory before the
// children they name are created, and records a changed deletion policy
// before the children are written with it.
func (p *pass) recordInventory(ctx context.Context, entries []inventory.Entry) error {
	inv, changed := p.inv.With(entries...)
	if !changed {
		return nil
	}
	return p.saveInventory(ctx, inv)
}

// recordWriters records the identity that wrote children recorded with
// another one (the RGD now names another ServiceAccount): from now on they
// are deleted as the identity that wrote them last.
func (p *pass) recordWriters(ctx context.Context, actions []*action) error {
	var written []inventory.Entry
	for _, a := range actions {
		if a.result != nil {
			written = append(written, a.entry)
		}
	}
	inv, changed := p.inv.WrittenAs(written...)
	if !changed {
		return nil
	}
	return p.saveInventory(ctx, inv)
}

func (p *pass) saveInventory(ctx context.Context, inv inventory.Inventory) error {
	patch := map[string]any{"metadata": map[string]any{
		"resourceVersion": p.inst.GetResourceVersion(),
		"annotations":     map[string]any{metadata.AnnotationInventory: inv.Encode()},
	}}
	out, err := p.r.patchInstance(ctx, p.st, p.inst, patch)
	if err != nil {
		return err
	}
	p.inst = out
	p.inv = inv
	return nil
}
