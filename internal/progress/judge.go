package progress

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/graph"
	"github.com/rgd-dev/rgd/pkg/render"
)

// Judging: with the RGD compiled against the cluster's schemas, each
// resource is decided in topological order the way the instance controller
// decides it (internal/controller/instance, plan.go and external.go), with
// the same pure functions (package render) over the live objects: a
// resource waits while a dependency is not ready, is excluded when a
// dependency is or an includeWhen is false, waits for data its template
// reads, waits to be created, and is ready once every readyWhen is true.
// Nothing is written: the verdicts are what the engine would conclude from
// the objects as they are now.

// compile compiles rgd against the Reader's schemas.
func (r *Reader) compile(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition) (*graph.Graph, error) {
	return graph.Compile(ctx, rgd, graph.Options{Resolver: r.resolver})
}

// judgement is one judging pass over an instance's graph.
type judgement struct {
	in        *render.Inputs
	namespace string // the instance's
	ready     map[string]bool
	excluded  map[string]bool
	// external looks up an external reference rendered as ref.
	external func(res *graph.Resource, ref map[string]any) (observed any, found []ObjectRef, b *Blocker)
}

// judge decides every resource of g for the instance live, whose existing
// children are children (by resource id).
func (r *Reader) judge(ctx context.Context, g *graph.Graph, live *unstructured.Unstructured, children map[string][]*unstructured.Unstructured) []Resource {
	j := &judgement{
		in:        render.NewInputs(g, live.Object, nil),
		namespace: live.GetNamespace(),
		ready:     map[string]bool{},
		excluded:  map[string]bool{},
		external: func(res *graph.Resource, ref map[string]any) (any, []ObjectRef, *Blocker) {
			return r.lookupExternal(ctx, res, ref, live.GetNamespace())
		},
	}
	out := make([]Resource, 0, len(g.Resources))
	for _, res := range g.Resources {
		out = append(out, j.resource(res, children[res.ID]))
	}
	return out
}

// resource judges one resource whose existing children are children.
func (j *judgement) resource(res *graph.Resource, children []*unstructured.Unstructured) Resource {
	out := Resource{ID: res.ID, APIVersion: res.GVK.GroupVersion().String(), Kind: res.GVK.Kind,
		DependsOn: res.Dependencies, State: ResourceWaiting}
	if res.External {
		out.State = ResourceExternal
	}
	if len(children) > 0 {
		out.State, out.Objects = ResourceCreated, refsOfLive(children)
	}
	out.Blocked = j.decide(res, children, &out)
	out.Ready = out.Blocked == nil
	if out.Blocked != nil && out.Blocked.Reason == Excluded {
		out.State = ResourceExcluded
		j.excluded[res.ID] = true
	}
	j.ready[res.ID] = out.Ready
	out.Name = displayName(out.Objects)
	return out
}

// decide returns what keeps res from being ready (nil when ready), filling
// in out's objects and, for an external reference, its state.
func (j *judgement) decide(res *graph.Resource, children []*unstructured.Unstructured, out *Resource) *Blocker {
	if b := j.dependencies(res); b != nil {
		return b
	}
	rendered, err := render.Resource(res, j.in, j.namespace, render.Options{})
	switch {
	case err != nil:
		return &Blocker{Reason: BlockedByError, Message: err.Error()}
	case !rendered.Included:
		e := unmetIncludeWhen(res, j.in, j.namespace)
		return &Blocker{Reason: Excluded, Expression: e, Message: "excluded: includeWhen ${" + e + "} is false"}
	case len(rendered.Pending) > 0:
		p := rendered.Pending[0]
		return &Blocker{Reason: BlockedByData, Expression: p.Expression, Message: "waiting for data: " + p.String()}
	}
	if len(out.Objects) == 0 {
		out.Objects = refsOfRendered(rendered.Objects)
	}
	var observed any
	if res.External {
		var found []ObjectRef
		var b *Blocker
		observed, found, b = j.external(res, rendered.Objects[0])
		if b != nil {
			return b
		}
		out.State, out.Objects = ResourceFound, found
	} else if observed = matchLive(res, rendered.Objects, children); observed == nil {
		return notCreated(rendered.Objects, children)
	}
	j.in.Set(res.ID, observed)
	ok, reason, err := render.Ready(res, observed)
	switch {
	case err != nil:
		return &Blocker{Reason: BlockedByError, Message: err.Error()}
	case !ok:
		return &Blocker{Reason: BlockedByReadyWhen, Expression: unmetReadyWhen(res, observed), Message: "readyWhen " + reason}
	}
	return nil
}

// dependencies returns why res cannot go on because of its dependencies:
// one is excluded, or some are not ready; nil when they are all ready.
func (j *judgement) dependencies(res *graph.Resource) *Blocker {
	for _, dep := range res.Dependencies {
		if j.excluded[dep] {
			return &Blocker{Reason: Excluded, Dependencies: []string{dep}, Message: "excluded: " + dep + " is excluded"}
		}
	}
	var waiting []string
	for _, dep := range res.Dependencies {
		if !j.ready[dep] {
			waiting = append(waiting, dep)
		}
	}
	if len(waiting) > 0 {
		return &Blocker{Reason: BlockedByDependency, Dependencies: waiting, Message: "waiting on " + strings.Join(waiting, ", ")}
	}
	return nil
}

// matchLive returns the live children that stand for the rendered objects:
// the object of a single resource, the list of a collection (in rendered
// order); nil unless every rendered object exists.
func matchLive(res *graph.Resource, rendered []map[string]any, children []*unstructured.Unstructured) any {
	byName := map[string]*unstructured.Unstructured{}
	for _, c := range children {
		byName[qualified(c.GetNamespace(), c.GetName())] = c
	}
	items := make([]any, 0, len(rendered))
	for _, obj := range rendered {
		u := unstructured.Unstructured{Object: obj}
		c, ok := byName[qualified(u.GetNamespace(), u.GetName())]
		if !ok {
			return nil
		}
		items = append(items, c.Object)
	}
	if res.IsCollection() {
		return items
	}
	if len(items) != 1 {
		return nil
	}
	return items[0]
}

// notCreated is the blocker of a resource whose rendered objects do not all
// exist among its children.
func notCreated(rendered []map[string]any, children []*unstructured.Unstructured) *Blocker {
	if len(rendered) <= 1 {
		return &Blocker{Reason: BlockedByCreation, Message: "not created yet"}
	}
	have := map[string]bool{}
	for _, c := range children {
		have[qualified(c.GetNamespace(), c.GetName())] = true
	}
	n := 0
	for _, obj := range rendered {
		u := unstructured.Unstructured{Object: obj}
		if have[qualified(u.GetNamespace(), u.GetName())] {
			n++
		}
	}
	return &Blocker{Reason: BlockedByCreation, Message: fmt.Sprintf("%d of %d objects created", n, len(rendered))}
}

// unmetReadyWhen returns the first readyWhen expression of res that is not
// true of observed on its own, as render.Ready judges it.
func unmetReadyWhen(res *graph.Resource, observed any) string {
	for _, e := range res.ReadyWhen {
		one := *res
		one.ReadyWhen = []*graph.Expression{e}
		if ok, _, err := render.Ready(&one, observed); err != nil || !ok {
			return e.Source
		}
	}
	return ""
}

// unmetIncludeWhen returns the first includeWhen expression of res that
// excludes it on its own, as render.Resource judges it.
func unmetIncludeWhen(res *graph.Resource, in *render.Inputs, namespace string) string {
	for _, e := range res.IncludeWhen {
		one := *res
		one.IncludeWhen = []*graph.Expression{e}
		if r, err := render.Resource(&one, in, namespace, render.Options{}); err == nil && !r.Included {
			return e.Source
		}
	}
	return ""
}

// lookupExternal reads the objects an external reference, rendered as ref,
// refers to, as the engine does: by name (a namespaced one without a
// namespace in the instance's), or by label selector (one without a
// namespace in every namespace).
func (r *Reader) lookupExternal(ctx context.Context, res *graph.Resource, ref map[string]any, instanceNamespace string) (any, []ObjectRef, *Blocker) {
	md, _ := ref["metadata"].(map[string]any)
	namespace, _ := md["namespace"].(string)
	if res.Namespaced && namespace == "" {
		namespace = instanceNamespace
	}
	if !res.Namespaced {
		namespace = ""
	}
	ri := r.dyn.Resource(res.GVR).Namespace(namespace)
	if res.IsCollection() {
		if md["namespace"] == nil {
			ri = r.dyn.Resource(res.GVR).Namespace("")
		}
		selector, err := graph.LabelSelector(md["selector"], field.NewPath("metadata", "selector"))
		if err != nil {
			return nil, nil, &Blocker{Reason: BlockedByError, Message: fmt.Sprintf("externalRef selector is not a label selector: %v", err)}
		}
		list, err := ri.List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
		if err != nil {
			return nil, nil, &Blocker{Reason: BlockedByError, Message: fmt.Sprintf("listing %s: %v", res.GVR, err)}
		}
		items := list.Items
		slices.SortFunc(items, func(a, b unstructured.Unstructured) int {
			return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
		})
		observed := make([]any, len(items))
		var found []ObjectRef
		for i := range items {
			observed[i] = items[i].Object
			found = append(found, ObjectRef{Namespace: items[i].GetNamespace(), Name: items[i].GetName()})
		}
		return observed, found, nil
	}
	name, _ := md["name"].(string)
	obj, err := ri.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil, &Blocker{Reason: BlockedByNotFound,
			Message: fmt.Sprintf("waiting for the external %s %s to exist", res.GVK.Kind, qualified(namespace, name))}
	case err != nil:
		return nil, nil, &Blocker{Reason: BlockedByError, Message: fmt.Sprintf("reading the external %s %s: %v", res.GVK.Kind, qualified(namespace, name), err)}
	}
	return obj.Object, []ObjectRef{{Namespace: obj.GetNamespace(), Name: obj.GetName()}}, nil
}

// refsOfLive names live objects.
func refsOfLive(objs []*unstructured.Unstructured) []ObjectRef {
	out := make([]ObjectRef, len(objs))
	for i, o := range objs {
		out[i] = ObjectRef{Namespace: o.GetNamespace(), Name: o.GetName()}
	}
	return out
}

// refsOfRendered names rendered objects; those without a name (an external
// selector) are left out.
func refsOfRendered(objs []map[string]any) []ObjectRef {
	var out []ObjectRef
	for _, obj := range objs {
		u := unstructured.Unstructured{Object: obj}
		if u.GetName() != "" {
			out = append(out, ObjectRef{Namespace: u.GetNamespace(), Name: u.GetName()})
		}
	}
	return out
}
