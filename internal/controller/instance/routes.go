package instance

import (
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Routing: which instances an event of an object they do not own concerns.
// Children carry their instance in labels; the objects an instance reads
// (external references, by name or by selector) and the names it wants that
// others hold do not, so the instances record what they read here as their
// passes read it.

// routes maps the objects instances read, but do not own, to those
// instances. The zero value is ready to use; it is safe for concurrent use.
type routes struct {
	mu sync.RWMutex
	// byName maps one object to the instances that read it by name.
	byName map[externalKey]map[Key]bool
	// bySelector maps a resource to the selectors instances read its
	// objects by, one per resource of an instance's graph.
	bySelector map[schema.GroupVersionResource]map[selectorReader]selectorRoute
}

// selectorReader is one resource (by id) of one instance that reads objects
// by selector.
type selectorReader struct {
	key Key
	id  string
}

// selectorRoute is what a selectorReader reads: the objects of a namespace
// (all namespaces when empty) that its selector matches.
type selectorRoute struct {
	namespace string
	selector  labels.Selector
}

// matches reports whether obj is, or was (old, for an update), one of the
// objects the route reads: an object leaving the selector concerns its
// reader as much as one joining it.
func (sr selectorRoute) matches(obj, old *unstructured.Unstructured) bool {
	if sr.namespace != "" && obj.GetNamespace() != sr.namespace {
		return false
	}
	return sr.selector.Matches(labels.Set(obj.GetLabels())) ||
		old != nil && sr.selector.Matches(labels.Set(old.GetLabels()))
}

// externalKey names one object an instance reads.
type externalKey struct {
	gvr             schema.GroupVersionResource
	namespace, name string
}

// trackExternal records that instance key reads the object of gvr named
// namespace/name.
func (rt *routes) trackExternal(key Key, gvr schema.GroupVersionResource, namespace, name string) {
	ek := externalKey{gvr: gvr, namespace: namespace, name: name}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.byName == nil {
		rt.byName = map[externalKey]map[Key]bool{}
	}
	if rt.byName[ek] == nil {
		rt.byName[ek] = map[Key]bool{}
	}
	rt.byName[ek][key] = true
}

// trackSelector records that resource id of instance key reads the objects
// of gvr in namespace (all when empty) that sel matches. It replaces what
// that resource read before: once its selector changes, objects only the old
// selector matched no longer concern the instance.
func (rt *routes) trackSelector(key Key, id string, gvr schema.GroupVersionResource, namespace string, sel labels.Selector) {
	reader := selectorReader{key: key, id: id}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.dropSelectorLocked(reader)
	if rt.bySelector == nil {
		rt.bySelector = map[schema.GroupVersionResource]map[selectorReader]selectorRoute{}
	}
	if rt.bySelector[gvr] == nil {
		rt.bySelector[gvr] = map[selectorReader]selectorRoute{}
	}
	rt.bySelector[gvr][reader] = selectorRoute{namespace: namespace, selector: sel}
}

// untrackSelector records that resource id of instance key reads nothing by
// selector (its selector is not a valid one).
func (rt *routes) untrackSelector(key Key, id string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.dropSelectorLocked(selectorReader{key: key, id: id})
}

func (rt *routes) dropSelectorLocked(reader selectorReader) {
	for gvr, m := range rt.bySelector {
		delete(m, reader)
		if len(m) == 0 {
			delete(rt.bySelector, gvr)
		}
	}
}

// instancesReading returns the instances that read obj, of gvr: by its
// name, or by a selector that matches it or matched old (its previous state,
// for an update; nil otherwise). Each instance is listed once, in no
// particular order.
func (rt *routes) instancesReading(gvr schema.GroupVersionResource, obj, old *unstructured.Unstructured) []Key {
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	byName := rt.byName[externalKey{gvr: gvr, namespace: obj.GetNamespace(), name: obj.GetName()}]
	keys := make([]Key, 0, len(byName))
	seen := make(map[Key]bool, len(byName))
	for k := range byName {
		keys = append(keys, k)
		seen[k] = true
	}
	for reader, route := range rt.bySelector[gvr] {
		if !seen[reader.key] && route.matches(obj, old) {
			keys = append(keys, reader.key)
			seen[reader.key] = true
		}
	}
	return keys
}

// forget drops everything instance key read: it is gone.
func (rt *routes) forget(key Key) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for ek, m := range rt.byName {
		delete(m, key)
		if len(m) == 0 {
			delete(rt.byName, ek)
		}
	}
	for gvr, m := range rt.bySelector {
		for reader := range m {
			if reader.key == key {
				delete(m, reader)
			}
		}
		if len(m) == 0 {
			delete(rt.bySelector, gvr)
		}
	}
}
