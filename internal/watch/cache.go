package watch

import (
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// IndexByInstance is the cache index that maps the value of the
// kro.run/instance-id label (the owning instance's UID) to the objects
// carrying it. Use it with Cache.ByIndex to list one instance's children.
const IndexByInstance = "rgd-instance"

// Cache reads an informer's store. The store keeps objects packed (see
// packed), and each read decodes the objects it returns, so reads cost
// microseconds per object: read what the work needs, not whole lists in
// a loop. Callers must still not modify what they get (DeepCopy first):
// an object the store could not pack is shared with every other reader.
// A Cache stays readable after its informer stopped, but then no longer
// changes.
type Cache interface {
	// Get returns the object namespace/name (namespace "" for
	// cluster-scoped objects).
	Get(namespace, name string) (*unstructured.Unstructured, bool)
	// List returns the objects in namespace ("" = all namespaces) whose
	// labels match selector (nil = everything).
	List(namespace string, selector labels.Selector) []*unstructured.Unstructured
	// ByIndex returns the objects whose indexName index holds value (for
	// example IndexByInstance and an instance UID). An unknown index
	// yields nil.
	ByIndex(indexName, value string) []*unstructured.Unstructured
	// Len returns the number of objects, without decoding any.
	Len() int
	// Names returns the namespace and name of every object, without
	// decoding any.
	Names() []types.NamespacedName
	// HasSynced reports whether the informer has completed its initial list.
	HasSynced() bool
}

// indexers are the indexes every informer carries.
func indexers() cache.Indexers {
	return cache.Indexers{
		cache.NamespaceIndex: cache.MetaNamespaceIndexFunc,
		IndexByInstance:      indexByInstance,
	}
}

func indexByInstance(obj any) ([]string, error) {
	if id, ok := instanceIDOf(obj); ok && id != "" {
		return []string{id}, nil
	}
	return nil, nil
}

// lastApplied is the annotation kubectl apply (client-side) writes: a full
// copy of the object, which the engine never reads.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// trimmer returns the informers' transform, which runs once per object
// before it is stored and saves memory: it drops the fields keep does not
// keep (nil keeps every field), metadata.managedFields (unless keep asks
// for them, see ManagedFields) and the last-applied annotation, which the
// engine never reads, and stores the rest packed (see packed).
func trimmer(keep *fieldTree) cache.TransformFunc {
	var transform func(obj any) any
	transform = func(obj any) any {
		switch o := obj.(type) {
		case *unstructured.Unstructured:
			trimObject(o, keep)
			return pack(o)
		case cache.DeletedFinalStateUnknown:
			o.Obj = transform(o.Obj)
			return o
		}
		return obj // already packed, or not an object
	}
	return func(obj any) (any, error) { return transform(obj), nil }
}

// trim is the transform of an informer that keeps every field.
var trim = trimmer(nil)

// trimObject removes, in place, what keep does not keep, managedFields
// (unless keep keeps them) and the last-applied annotation.
func trimObject(u *unstructured.Unstructured, keep *fieldTree) {
	keep.prune(u.Object)
	md, ok := u.Object["metadata"].(map[string]any)
	if !ok {
		return
	}
	if !keep.keepsManagedFields() {
		delete(md, "managedFields")
	}
	if ann, ok := md["annotations"].(map[string]any); ok {
		if _, has := ann[lastApplied]; has {
			delete(ann, lastApplied)
			if len(ann) == 0 {
				delete(md, "annotations")
			}
		}
	}
}

// metadataOnly returns the transform of a MetadataOnly informer of gvr:
// every object, full or PartialObjectMetadata, is stored (packed) as an
// object holding only apiVersion and metadata, without managedFields and
// the last-applied annotation.
func metadataOnly(gvr schema.GroupVersionResource) cache.TransformFunc {
	apiVersion := gvr.GroupVersion().String()
	var convert func(obj any) any
	convert = func(obj any) any {
		var md map[string]any
		switch o := obj.(type) {
		case cache.DeletedFinalStateUnknown:
			o.Obj = convert(o.Obj)
			return o
		case *unstructured.Unstructured:
			md, _ = o.Object["metadata"].(map[string]any)
		case *metav1.PartialObjectMetadata:
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&o.ObjectMeta)
			if err != nil {
				return obj
			}
			md = m
		default:
			return obj
		}
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "metadata": md}}
		trimObject(u, nil)
		return pack(u)
	}
	return func(obj any) (any, error) { return convert(obj), nil }
}

// indexerCache is the Cache of one informer: it reads the store of the
// informer cur points at. An informer restarted to keep more of each object
// (see Manager.WatchFields) takes over the same indexerCache, so Caches
// handed out earlier read the new informer's store.
type indexerCache struct {
	cur *atomic.Pointer[servingInformer]
}

type servingInformer struct{ cache.SharedIndexInformer }

func newIndexerCache(inf cache.SharedIndexInformer) indexerCache {
	c := indexerCache{cur: &atomic.Pointer[servingInformer]{}}
	c.serve(inf)
	return c
}

// serve makes the cache read inf's store.
func (c indexerCache) serve(inf cache.SharedIndexInformer) { c.cur.Store(&servingInformer{inf}) }

func (c indexerCache) informer() cache.SharedIndexInformer { return c.cur.Load().SharedIndexInformer }

var _ Cache = indexerCache{}

func (c indexerCache) Get(namespace, name string) (*unstructured.Unstructured, bool) {
	key := name
	if namespace != "" {
		key = namespace + "/" + name
	}
	obj, ok, err := c.informer().GetIndexer().GetByKey(key)
	if err != nil || !ok {
		return nil, false
	}
	return unpackAny(obj)
}

func (c indexerCache) List(namespace string, selector labels.Selector) []*unstructured.Unstructured {
	var objs []any
	if namespace == "" {
		objs = c.informer().GetIndexer().List()
	} else {
		var err error
		objs, err = c.informer().GetIndexer().ByIndex(cache.NamespaceIndex, namespace)
		if err != nil {
			return nil
		}
	}
	return filter(objs, selector)
}

func (c indexerCache) ByIndex(indexName, value string) []*unstructured.Unstructured {
	objs, err := c.informer().GetIndexer().ByIndex(indexName, value)
	if err != nil {
		return nil
	}
	return filter(objs, nil)
}

func (c indexerCache) Len() int { return len(c.informer().GetIndexer().ListKeys()) }

func (c indexerCache) Names() []types.NamespacedName {
	keys := c.informer().GetIndexer().ListKeys()
	out := make([]types.NamespacedName, 0, len(keys))
	for _, k := range keys {
		if ns, name, err := cache.SplitMetaNamespaceKey(k); err == nil {
			out = append(out, types.NamespacedName{Namespace: ns, Name: name})
		}
	}
	return out
}

func (c indexerCache) HasSynced() bool { return c.informer().HasSynced() }

func filter(objs []any, selector labels.Selector) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, 0, len(objs))
	matchAll := selector == nil || selector.Empty()
	for _, o := range objs {
		if !matchAll {
			// Decode an object only when it matches.
			if l, ok := labelsOf(o); !ok || !selector.Matches(labels.Set(l)) {
				continue
			}
		}
		if u, ok := unpackAny(o); ok {
			out = append(out, u)
		}
	}
	return out
}
