package instance

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/rgd-dev/rgd/internal/metrics"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

// oneObjectCache is a watch.Cache holding a single object.
type oneObjectCache struct{ obj *unstructured.Unstructured }

func (c oneObjectCache) Get(namespace, name string) (*unstructured.Unstructured, bool) {
	if namespace == c.obj.GetNamespace() && name == c.obj.GetName() {
		return c.obj, true
	}
	return nil, false
}
func (c oneObjectCache) List(string, labels.Selector) []*unstructured.Unstructured { return nil }
func (c oneObjectCache) ByIndex(string, string) []*unstructured.Unstructured       { return nil }
func (c oneObjectCache) Len() int                                                  { return 1 }
func (c oneObjectCache) Names() []types.NamespacedName {
	return []types.NamespacedName{{Namespace: c.obj.GetNamespace(), Name: c.obj.GetName()}}
}
func (c oneObjectCache) HasSynced() bool { return true }

// TestFailureDuringShutdownIsNotRetried checks the worker's bookkeeping of a
// failed pass: retried with backoff while running, dropped (and counted as
// canceled, not as an error) once the context has ended.
func TestFailureDuringShutdownIsNotRetried(t *testing.T) {
	gvr := schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "apps"}
	// Being deleted with an inventory that does not parse: the pass fails
	// before it makes any request.
	inst := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kro.run/v1alpha1", "kind": "App",
		"metadata": map[string]any{
			"name": "a", "namespace": "ns", "uid": "u1",
			"deletionTimestamp": "2026-11-25T00:00:00Z",
			"finalizers":        []any{metadata.Finalizer},
			"annotations":       map[string]any{metadata.AnnotationInventory: "{not json"},
		},
	}}
	key := Key{GVR: gvr, Namespace: "ns", Name: "a"}

	for _, tc := range []struct {
		name      string
		cancel    bool
		requeues  int
		result    string
		otherZero string
	}{
		{name: "running", requeues: 1, result: "error", otherZero: "canceled"},
		{name: "shutting down", cancel: true, requeues: 0, result: "canceled", otherZero: "error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := metrics.New(nil)
			r := New(nil, nil, Options{Metrics: m})
			defer r.loop.ShutDown()
			r.kinds[gvr] = &kindState{gvr: gvr, cache: oneObjectCache{obj: inst}}

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				cancel()
			}
			r.loop.Add(key)
			assert.True(t, r.loop.ProcessNext(ctx))
			assert.Equal(t, tc.requeues, r.loop.Retries(key))
			assert.Equal(t, 1.0, testutil.ToFloat64(m.Reconciles.WithLabelValues("instance", tc.result)))
			assert.Equal(t, 0.0, testutil.ToFloat64(m.Reconciles.WithLabelValues("instance", tc.otherZero)))
		})
	}
}
