package watch

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
)

// EventType says what happened to an object.
type EventType int

const (
	// Added is an object seen for the first time, including objects already
	// in the cache when a handler is registered.
	Added EventType = iota
	// Updated is a change to a known object (or a periodic resync, when
	// Options.ResyncPeriod is set: then Old and Object have the same
	// resourceVersion).
	Updated
	// Deleted is an object that disappeared.
	Deleted
)

// String returns "Added", "Updated" or "Deleted".
func (t EventType) String() string {
	switch t {
	case Added:
		return "Added"
	case Updated:
		return "Updated"
	case Deleted:
		return "Deleted"
	default:
		return fmt.Sprintf("EventType(%d)", int(t))
	}
}

// Event is one change seen by an informer. Object is the new state (for
// Deleted, the last known state); Old is the previous state, set only for
// Updated. Each handler gets its own decoded copies, but, as with Cache,
// handlers must not modify them.
type Event struct {
	Type   EventType
	GVR    schema.GroupVersionResource
	Object *unstructured.Unstructured
	Old    *unstructured.Unstructured
}

// Handler receives events. It runs on the informer's delivery goroutine for
// this handler and must be fast: it should only enqueue keys. For a delete,
// the object is the last known state (tombstones are unwrapped).
type Handler func(ev Event)

// eventHandler adapts fn to client-go's ResourceEventHandler for one GVR,
// decoding the stored objects (see packed). Anything else than an object
// (which a dynamic informer never produces) is ignored.
func eventHandler(gvr schema.GroupVersionResource, fn Handler) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if u, ok := unpackAny(obj); ok {
				fn(Event{Type: Added, GVR: gvr, Object: u})
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			n, ok := unpackAny(newObj)
			if !ok {
				return
			}
			o, _ := unpackAny(oldObj)
			fn(Event{Type: Updated, GVR: gvr, Object: n, Old: o})
		},
		DeleteFunc: func(obj any) {
			if u, ok := unpackAny(obj); ok {
				fn(Event{Type: Deleted, GVR: gvr, Object: u})
			}
		},
	}
}

// countingHandler calls fn with the type of every event, without decoding
// the objects.
func countingHandler(fn func(EventType)) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { fn(Added) },
		UpdateFunc: func(any, any) { fn(Updated) },
		DeleteFunc: func(any) { fn(Deleted) },
	}
}
