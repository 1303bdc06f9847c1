package instance

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/rgd-dev/rgd/internal/watch"
	"github.com/rgd-dev/rgd/pkg/graph"
)

// External references: objects the graph reads but does not own, by name or
// by selector, from their informer's cache.

// observeExternal reads an external reference from the cache.
func (p *pass) observeExternal(res *graph.Resource, ref map[string]any, ns *nodeState) {
	ns.complete = true
	cache, ok := p.r.watches.Cache(watch.Key{GVR: res.GVR})
	if !ok {
		ns.state, ns.message = stateWaiting, fmt.Sprintf("the informer of %s is not running", res.GVR)
		return
	}
	md, _ := ref["metadata"].(map[string]any)
	namespace, _ := md["namespace"].(string)
	if namespace == "" && res.Namespaced {
		namespace = p.inst.GetNamespace()
	}
	if res.IsCollection() {
		if !res.Namespaced || md["namespace"] == nil {
			namespace = "" // a selector without a namespace looks everywhere, as kro
		}
		p.observeSelected(res, md["selector"], namespace, cache, ns)
		return
	}
	name, _ := md["name"].(string)
	p.r.routes.trackExternal(p.key, res.GVR, namespace, name)
	obj, found := cache.Get(namespace, name)
	if !found {
		ns.state = stateWaiting
		ns.message = fmt.Sprintf("waiting for the external %s %s to exist", res.GVK.Kind, joinName(namespace, name))
		return
	}
	p.observed(res, obj.Object, ns)
}

// observeSelected reads the objects of an external reference by selector:
// the rendered selector must be a label selector, or the resource fails
// (and its instance is no longer routed the objects of a selector it had).
func (p *pass) observeSelected(res *graph.Resource, sel any, namespace string, cache watch.Cache, ns *nodeState) {
	selector, err := graph.LabelSelector(sel, field.NewPath("metadata", "selector"))
	if err != nil {
		p.r.routes.untrackSelector(p.key, res.ID)
		ns.state, ns.message = stateError, fmt.Sprintf("externalRef selector is not a label selector: %v", err)
		return
	}
	p.r.routes.trackSelector(p.key, res.ID, res.GVR, namespace, selector)
	items := cache.List(namespace, selector)
	slices.SortFunc(items, func(a, b *unstructured.Unstructured) int {
		return strings.Compare(a.GetNamespace()+"/"+a.GetName(), b.GetNamespace()+"/"+b.GetName())
	})
	list := make([]any, len(items))
	for i, it := range items {
		list[i] = it.Object
	}
	p.observed(res, list, ns)
}

// observed records a resource's live state and judges its readiness.
func (p *pass) observed(res *graph.Resource, obj any, ns *nodeState) {
	p.in.Set(res.ID, obj)
	ready, reason, err := p.in.Ready(res, obj)
	switch {
	case err != nil:
		ns.state, ns.message = stateError, err.Error()
	case ready:
		ns.state, ns.ready = stateSynced, true
	default:
		ns.state, ns.message = stateWaiting, "not ready: "+reason
	}
}
