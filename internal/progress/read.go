package progress

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/rgd-dev/rgd/internal/inventory"
	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/metadata"
	"github.com/rgd-dev/rgd/pkg/schemas"
)

// Reader reads RGDs, instances and their children from a cluster. Every
// read is a fresh GET or LIST: a Reader keeps no cache but its mapper's,
// its resolver's and the graph compiler's.
type Reader struct {
	dyn    dynamic.Interface
	mapper meta.ResettableRESTMapper
	// resolver, when set, resolves the schemas to compile RGDs with, so
	// that resources are judged (see WithSchemas).
	resolver schemas.Resolver
}

// NewReader returns a Reader that reads through dyn and maps kinds (of
// instances and external references) through mapper.
func NewReader(dyn dynamic.Interface, mapper meta.ResettableRESTMapper) *Reader {
	return &Reader{dyn: dyn, mapper: mapper}
}

// WithSchemas returns a copy of r that compiles each instance's RGD against
// the schemas resolver gives (the cluster's, as the engine does) and judges
// every resource: whether it is ready, and what it waits on (see judge.go).
func (r *Reader) WithSchemas(resolver schemas.Resolver) *Reader {
	out := *r
	out.resolver = resolver
	return &out
}

// RGD reads one RGD into the typed API.
func (r *Reader) RGD(ctx context.Context, name string) (*v1alpha1.ResourceGraphDefinition, error) {
	u, err := r.dyn.Resource(v1alpha1.ResourceGraphDefinitionResource).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return DecodeRGD(u)
}

// Snapshot reads each of rgds from the cluster and, for each, the instances
// among instances of the kind it defines (only their kind, namespace and
// name matter). An RGD that cannot be read is shown as given, in
// StateUnreadable.
func (r *Reader) Snapshot(ctx context.Context, rgds, instances []*unstructured.Unstructured) []RGD {
	var out []RGD
	for _, given := range rgds {
		rgd, err := r.RGD(ctx, given.GetName())
		var snap RGD
		if err == nil {
			snap = Summarize(rgd)
		} else {
			snap = RGD{Name: given.GetName(), State: StateUnreadable}
			if rgd, err = DecodeRGD(given); err != nil {
				rgd = &v1alpha1.ResourceGraphDefinition{} // no kind: no instance
			}
		}
		kind := InstanceKind(rgd)
		for _, inst := range instances {
			if inst.GroupVersionKind().GroupKind() == kind {
				snap.Instances = append(snap.Instances, r.Instance(ctx, rgd, inst))
			}
		}
		out = append(out, snap)
	}
	return out
}

// Instance reads the instance named like inst (its kind, namespace and
// name), and the objects of each resource of rgd's graph.
func (r *Reader) Instance(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition, inst *unstructured.Unstructured) Instance {
	gvk := inst.GroupVersionKind()
	in := Instance{Kind: gvk.Kind, Name: inst.GetName()}
	mapping, err := r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return in
	}
	var ri dynamic.ResourceInterface = r.dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		in.Namespace = cmp.Or(inst.GetNamespace(), metav1.NamespaceDefault)
		ri = r.dyn.Resource(mapping.Resource).Namespace(in.Namespace)
	}
	live, err := ri.Get(ctx, in.Name, metav1.GetOptions{})
	if err != nil {
		return in
	}
	return r.describe(ctx, rgd, live, in)
}

// describe fills in, an instance found live, from the live object: its
// status, and its graph's resources, judged when the Reader has schemas.
func (r *Reader) describe(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition, live *unstructured.Unstructured, in Instance) Instance {
	in.Found = true
	in.RGD = rgd.Name
	in.State, in.Conditions = readStatus(live)
	in.Ready, in.ReadyMessage = readyOf(in.Conditions)
	children := r.children(ctx, live)
	if r.resolver != nil {
		g, err := r.compile(ctx, rgd)
		if err == nil {
			in.Resources, in.Judged = r.judge(ctx, g, live, children), true
			return in
		}
		in.GraphError = err.Error()
	}
	order, refs := resourceRefs(rgd)
	for _, id := range order {
		ref, ok := refs[id]
		if !ok {
			continue
		}
		if ref.external {
			in.Resources = append(in.Resources, r.external(ctx, in, id, ref))
		} else {
			in.Resources = append(in.Resources, templateResource(id, ref, children[id]))
		}
	}
	return in
}

// readStatus reads an instance's state and conditions; a condition that
// does not decode is left out.
func readStatus(live *unstructured.Unstructured) (v1alpha1.InstanceState, []v1alpha1.Condition) {
	state, _, _ := unstructured.NestedString(live.Object, "status", "state")
	raw, _, _ := unstructured.NestedSlice(live.Object, "status", "conditions")
	var conds []v1alpha1.Condition
	for _, c := range raw {
		m, ok := c.(map[string]any)
		if !ok {
			continue
		}
		var cond v1alpha1.Condition
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &cond); err == nil {
			conds = append(conds, cond)
		}
	}
	return v1alpha1.InstanceState(state), conds
}

// children returns the instance's children that exist, by resource id,
// sorted by namespace and name. The instance's inventory says which objects
// to look for; one LIST per resource and namespace, selecting the
// instance's UID label, says which exist and are its own.
func (r *Reader) children(ctx context.Context, live *unstructured.Unstructured) map[string][]*unstructured.Unstructured {
	inv, err := inventory.Read(live.GetAnnotations())
	if err != nil {
		return nil
	}
	type place struct {
		gvr       schema.GroupVersionResource
		namespace string
	}
	existing := map[place]map[string]*unstructured.Unstructured{}
	selector := metadata.LabelInstanceID + "=" + string(live.GetUID())
	out := map[string][]*unstructured.Unstructured{}
	for _, e := range inv {
		at := place{e.GVR(), e.Namespace}
		objs, listed := existing[at]
		if !listed {
			objs = map[string]*unstructured.Unstructured{}
			list, err := r.dyn.Resource(at.gvr).Namespace(at.namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err == nil {
				for i := range list.Items {
					objs[list.Items[i].GetName()] = &list.Items[i]
				}
			}
			existing[at] = objs
		}
		if obj, ok := objs[e.Name]; ok {
			out[e.Node] = append(out[e.Node], obj)
		}
	}
	for _, objs := range out {
		slices.SortFunc(objs, func(a, b *unstructured.Unstructured) int {
			return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
		})
	}
	return out
}

// templateResource is a template resource whose existing objects are objs,
// sorted.
func templateResource(id string, ref resourceRef, objs []*unstructured.Unstructured) Resource {
	res := Resource{ID: id, APIVersion: ref.apiVersion, Kind: ref.kind, State: ResourceWaiting}
	if len(objs) == 0 {
		if !isExpression(ref.name) {
			res.Name = ref.name
		}
		return res
	}
	res.State = ResourceCreated
	for _, o := range objs {
		res.Objects = append(res.Objects, ObjectRef{Namespace: o.GetNamespace(), Name: o.GetName()})
	}
	res.Name = displayName(res.Objects)
	return res
}

// displayName names the first of objs, namespace/name when namespaced,
// followed by " (+N more)" for N more objects.
func displayName(objs []ObjectRef) string {
	if len(objs) == 0 {
		return ""
	}
	name := qualified(objs[0].Namespace, objs[0].Name)
	if len(objs) > 1 {
		name += fmt.Sprintf(" (+%d more)", len(objs)-1)
	}
	return name
}

// external looks up an external reference by name. It is waiting while its
// kind is not served; one that selects by labels, or whose name or
// namespace is an expression, is not looked up.
func (r *Reader) external(ctx context.Context, in Instance, id string, ref resourceRef) Resource {
	res := Resource{ID: id, APIVersion: ref.apiVersion, Kind: ref.kind, State: ResourceWaiting}
	if !isExpression(ref.name) {
		res.Name = ref.name
	}
	gv, err := schema.ParseGroupVersion(ref.apiVersion)
	if err != nil {
		return res
	}
	mapping, err := r.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: ref.kind}, gv.Version)
	if err != nil {
		r.mapper.Reset()
		return res
	}
	res.State = ResourceExternal
	if res.Name == "" || isExpression(ref.namespace) {
		return res
	}
	var ri dynamic.ResourceInterface = r.dyn.Resource(mapping.Resource)
	namespace := ""
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		namespace = cmp.Or(ref.namespace, in.Namespace)
		ri = r.dyn.Resource(mapping.Resource).Namespace(namespace)
	}
	res.Objects = []ObjectRef{{Namespace: namespace, Name: res.Name}}
	if got, err := ri.Get(ctx, res.Name, metav1.GetOptions{}); err == nil {
		res.Name, res.State = qualified(namespace, got.GetName()), ResourceFound
	}
	return res
}

// qualified names an object namespace/name, or name when cluster-scoped.
func qualified(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}
