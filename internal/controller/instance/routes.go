package instance

import (
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
	// bySelector maps a resource to the instances that read objects of it
	// by selector: any of its objects may concern them.
	bySelector map[schema.GroupVersionResource]map[Key]bool
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

// trackSelector records that instance key reads objects of gvr by selector.
func (rt *routes) trackSelector(key Key, gvr schema.GroupVersionResource) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.bySelector == nil {
		rt.bySelector = map[schema.GroupVersionResource]map[Key]bool{}
	}
	if rt.bySelector[gvr] == nil {
		rt.bySelector[gvr] = map[Key]bool{}
	}
	rt.bySelector[gvr][key] = true
}

// instancesReading returns the instances that read obj, of gvr: by its
// name, or by a selector over gvr. Each instance is listed once, in no
// particular order.
func (rt *routes) instancesReading(gvr schema.GroupVersionResource, obj *unstructured.Unstructured) []Key {
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	byName := rt.byName[externalKey{gvr: gvr, namespace: obj.GetNamespace(), name: obj.GetName()}]
	bySelector := rt.bySelector[gvr]
	keys := make([]Key, 0, len(byName)+len(bySelector))
	for k := range byName {
		keys = append(keys, k)
	}
	for k := range bySelector {
		if !byName[k] {
			keys = append(keys, k)
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
		delete(m, key)
		if len(m) == 0 {
			delete(rt.bySelector, gvr)
		}
	}
}
