package instance

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/rgd-dev/rgd/pkg/metadata"
	"github.com/rgd-dev/rgd/pkg/render"
)

// Entry is one child recorded in an instance's inventory.
type Entry struct {
	// APIVersion and Kind of the child.
	APIVersion string `json:"v"`
	Kind       string `json:"k"`
	// Resource is the REST resource, so deletion needs no discovery.
	Resource string `json:"r"`
	// Namespace and Name of the child.
	Namespace string `json:"ns,omitempty"`
	Name      string `json:"n"`
	// Node is the id of the graph resource that produced the child.
	Node string `json:"id"`
	// Wave is the deletion order: higher waves are deleted first.
	Wave int `json:"w"`
}

// GVR returns the child's REST resource.
func (e Entry) GVR() schema.GroupVersionResource {
	gv, _ := schema.ParseGroupVersion(e.APIVersion)
	return gv.WithResource(e.Resource)
}

// ref is the identity of an object: what makes two entries the same child.
type ref struct {
	group, resource, namespace, name string
}

func (e Entry) ref() ref {
	return ref{group: e.GVR().Group, resource: e.Resource, namespace: e.Namespace, name: e.Name}
}

// String names the child for messages, e.g. apps/v1 Deployment carts-kro/carts.
func (e Entry) String() string {
	if e.Namespace == "" {
		return fmt.Sprintf("%s %s %s", e.APIVersion, e.Kind, e.Name)
	}
	return fmt.Sprintf("%s %s %s/%s", e.APIVersion, e.Kind, e.Namespace, e.Name)
}

// Inventory is the set of children an instance has, kept sorted.
type Inventory []Entry

// readInventory parses the inventory annotation; a missing one is empty.
func readInventory(annotations map[string]string) (Inventory, error) {
	raw, ok := annotations[metadata.AnnotationInventory]
	if !ok || raw == "" {
		return nil, nil
	}
	var inv Inventory
	if err := json.Unmarshal([]byte(raw), &inv); err != nil {
		return nil, fmt.Errorf("annotation %s is not a valid inventory: %w", metadata.AnnotationInventory, err)
	}
	inv.sort()
	return inv, nil
}

// encode renders the inventory for the annotation.
func (inv Inventory) encode() string {
	b, _ := json.Marshal(inv)
	return string(b)
}

func (inv Inventory) sort() {
	slices.SortFunc(inv, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.APIVersion, b.APIVersion), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
}

// has reports whether the inventory records the child.
func (inv Inventory) has(e Entry) bool {
	r := e.ref()
	for _, x := range inv {
		if x.ref() == r {
			return true
		}
	}
	return false
}

// with returns the inventory plus the entries it lacks, and whether any was
// added.
func (inv Inventory) with(entries ...Entry) (Inventory, bool) {
	out := slices.Clone(inv)
	added := false
	for _, e := range entries {
		if !out.has(e) {
			out = append(out, e)
			added = true
		}
	}
	out.sort()
	return out, added
}

// without returns the inventory less the given children.
func (inv Inventory) without(gone ...Entry) Inventory {
	drop := map[ref]bool{}
	for _, e := range gone {
		drop[e.ref()] = true
	}
	out := make(Inventory, 0, len(inv))
	for _, e := range inv {
		if !drop[e.ref()] {
			out = append(out, e)
		}
	}
	return out
}

// lastWave returns the entries of the highest deletion wave.
func (inv Inventory) lastWave() []Entry {
	if len(inv) == 0 {
		return nil
	}
	top := inv[0].Wave
	for _, e := range inv {
		top = max(top, e.Wave)
	}
	var out []Entry
	for _, e := range inv {
		if e.Wave == top {
			out = append(out, e)
		}
	}
	return out
}

// ensureManaged puts rgd's finalizer and labels on the instance (one write,
// the first time), before any child exists. It returns the instance and its
// inventory as they are after that write.
func (r *Reconciler) ensureManaged(ctx context.Context, st *kindState, inst *unstructured.Unstructured, inv Inventory) (*unstructured.Unstructured, Inventory, error) {
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
	inv, _ = inv.with(r.predictChildren(st, inst)...)
	patch := map[string]any{
		"metadata": map[string]any{
			"resourceVersion": inst.GetResourceVersion(),
			"labels":          wantLabels,
			"finalizers":      append(slices.Clone(inst.GetFinalizers()), finalizerIfMissing(hasFinalizer)...),
			"annotations":     map[string]any{metadata.AnnotationInventory: inv.encode()},
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
func (r *Reconciler) predictChildren(st *kindState, inst *unstructured.Unstructured) []Entry {
	in := render.NewInputs(st.kind.Graph, inst.Object, nil).ObserveEvaluations(r.opts.EvalObserver)
	var out []Entry
	for _, rr := range render.Offline(st.kind.Graph, in, inst.GetNamespace(), render.Options{MaxCollectionSize: r.opts.MaxCollectionSize}) {
		if rr.Err != nil || rr.Resource.External || !rr.Result.Included || len(rr.Result.Pending) > 0 {
			continue
		}
		for _, obj := range rr.Result.Objects {
			out = append(out, st.layout.entry(rr.Resource, &unstructured.Unstructured{Object: obj}))
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
	r.rememberInstance(st.gvr, out)
	return out, nil
}

// recordInventory adds entries to the instance's inventory before the
// children they name are created.
func (p *pass) recordInventory(ctx context.Context, entries []Entry) error {
	inv, added := p.inv.with(entries...)
	if !added {
		return nil
	}
	return p.saveInventory(ctx, inv)
}

func (p *pass) saveInventory(ctx context.Context, inv Inventory) error {
	patch := map[string]any{"metadata": map[string]any{
		"resourceVersion": p.inst.GetResourceVersion(),
		"annotations":     map[string]any{metadata.AnnotationInventory: inv.encode()},
	}}
	out, err := p.r.patchInstance(ctx, p.st, p.inst, patch)
	if err != nil {
		return err
	}
	p.inst = out
	p.inv = inv
	return nil
}
