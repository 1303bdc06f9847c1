package instance

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

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
	if sel, isSelector := md["selector"]; isSelector {
		p.r.routes.trackSelector(p.key, res.GVR)
		ls := &metav1.LabelSelector{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(sel.(map[string]any), ls); err != nil {
			ns.state, ns.message = stateError, fmt.Sprintf("externalRef selector: %v", err)
			return
		}
		selector, err := metav1.LabelSelectorAsSelector(ls)
		if err != nil {
			ns.state, ns.message = stateError, fmt.Sprintf("externalRef selector: %v", err)
			return
		}
		if !res.Namespaced {
			namespace = ""
		}
		if ref["metadata"].(map[string]any)["namespace"] == nil {
			namespace = "" // a selector without a namespace looks everywhere, as kro
		}
		items := cache.List(namespace, selector)
		slices.SortFunc(items, func(a, b *unstructured.Unstructured) int {
			return strings.Compare(a.GetNamespace()+"/"+a.GetName(), b.GetNamespace()+"/"+b.GetName())
		})
		list := make([]any, len(items))
		for i, it := range items {
			list[i] = it.Object
		}
		p.observed(res, list, ns)
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
