package schemas

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/rgd-dev/rgd/pkg/schemas/builtin"
)

// fakeAPIServer serves discovery and OpenAPI v3 for core/v1 (the embedded
// capture) and example.com/v1 (one Widget kind), and counts requests by path.
type fakeAPIServer struct {
	*httptest.Server
	mu     sync.Mutex
	hits   map[string]int
	docs   map[string][]byte // OpenAPI path -> document
	lists  map[string][]byte // discovery path -> APIResourceList
	widget string            // name of Widget's extra property, changed by tests
}

func newFakeAPIServer(t *testing.T) *fakeAPIServer {
	t.Helper()
	src, err := builtin.Embedded()
	require.NoError(t, err)
	core, err := src.Load(schema.GroupVersion{Version: "v1"})
	require.NoError(t, err)
	coreList := metav1.APIResourceList{GroupVersion: "v1"}
	for _, r := range core.Resources {
		coreList.APIResources = append(coreList.APIResources, metav1.APIResource{Name: r.Name, Kind: r.Kind, Namespaced: r.Namespaced})
	}
	coreList.APIResources = append(coreList.APIResources, metav1.APIResource{Name: "pods/status", Kind: "Pod", Namespaced: true})
	f := &fakeAPIServer{
		hits:   map[string]int{},
		docs:   map[string][]byte{"api/v1": core.OpenAPI},
		lists:  map[string][]byte{"/api/v1": mustJSON(t, coreList)},
		widget: "size",
	}
	f.lists["/apis/example.com/v1"] = mustJSON(t, metav1.APIResourceList{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{
		{Name: "widgets", Kind: "Widget", Namespaced: false},
	}})
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func (f *fakeAPIServer) widgetDoc() []byte {
	return []byte(`{"components":{"schemas":{"com.example.v1.Widget":{"type":"object",
	  "x-kubernetes-group-version-kind":[{"group":"example.com","version":"v1","kind":"Widget"}],
	  "properties":{"apiVersion":{"type":"string"},"kind":{"type":"string"},
	    "metadata":{"allOf":[{"$ref":"#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]},
	    "spec":{"type":"object","properties":{"` + f.widget + `":{"type":"integer"}}}}},
	  "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta":{"type":"object","properties":{"name":{"type":"string"},"labels":{"type":"object","additionalProperties":{"type":"string"}}}}}}}`)
}

func (f *fakeAPIServer) serve(w http.ResponseWriter, req *http.Request) {
	f.mu.Lock()
	f.hits[req.URL.Path]++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case req.URL.Path == "/openapi/v3":
		paths := map[string]any{}
		for _, p := range []string{"api/v1", "apis/example.com/v1"} {
			paths[p] = map[string]string{"serverRelativeURL": "/openapi/v3/" + p + "?hash=1"}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"paths": paths})
	case req.URL.Path == "/openapi/v3/apis/example.com/v1":
		f.mu.Lock()
		doc := f.widgetDoc()
		f.mu.Unlock()
		_, _ = w.Write(doc)
	case strings.HasPrefix(req.URL.Path, "/openapi/v3/"):
		doc, ok := f.docs[strings.TrimPrefix(req.URL.Path, "/openapi/v3/")]
		if !ok {
			http.NotFound(w, req)
			return
		}
		_, _ = w.Write(doc)
	default:
		list, ok := f.lists[req.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`))
			return
		}
		_, _ = w.Write(list)
	}
}

func (f *fakeAPIServer) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[path]
}

func (f *fakeAPIServer) setWidgetField(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.widget = name
}

var widgetGVK = schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}

func TestDiscoveryResolves(t *testing.T) {
	f := newFakeAPIServer(t)
	r, err := Discovery(&rest.Config{Host: f.URL}, DiscoveryOptions{})
	require.NoError(t, err)
	ctx := context.Background()

	cm, err := r.Resolve(ctx, schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"})
	require.NoError(t, err)
	assert.Equal(t, "configmaps", cm.Resource.Resource)
	assert.True(t, cm.Namespaced)
	assert.Equal(t, spec.StringOrArray{"string"}, prop(t, cm.Schema, "data").AdditionalProperties.Schema.Type)

	pod, err := r.Resolve(ctx, schema.GroupVersionKind{Version: "v1", Kind: "Pod"})
	require.NoError(t, err)
	assert.Equal(t, "pods", pod.Resource.Resource, "subresources are skipped")

	w, err := r.Resolve(ctx, widgetGVK)
	require.NoError(t, err)
	assert.False(t, w.Namespaced)
	assert.Equal(t, spec.StringOrArray{"integer"}, prop(t, w.Schema, "spec", "size").Type)
	assert.Equal(t, spec.StringOrArray{"string"}, prop(t, w.Schema, "metadata", "name").Type)
	assertNoRefs(t, w.Schema, "Widget")

	assert.Equal(t, 1, f.count("/openapi/v3/api/v1"), "one fetch per group-version")
	assert.Equal(t, 1, f.count("/api/v1"))
	assert.Equal(t, 2, r.CachedGroupVersions())
}

func TestDiscoveryNotFound(t *testing.T) {
	f := newFakeAPIServer(t)
	r, err := Discovery(&rest.Config{Host: f.URL}, DiscoveryOptions{})
	require.NoError(t, err)
	ctx := context.Background()

	_, err = r.Resolve(ctx, schema.GroupVersionKind{Group: "missing.example.com", Version: "v1", Kind: "Thing"})
	require.ErrorIs(t, err, ErrNotFound)
	assert.Contains(t, err.Error(), "the cluster does not serve missing.example.com/v1")

	_, err = r.Resolve(ctx, schema.GroupVersionKind{Version: "v1", Kind: "Gizmo"})
	require.ErrorIs(t, err, ErrNotFound)

	// A group-version the cluster does not serve is asked again next time:
	// a CRD may have been created meanwhile.
	_, err = r.Resolve(ctx, schema.GroupVersionKind{Group: "missing.example.com", Version: "v1", Kind: "Thing"})
	require.ErrorIs(t, err, ErrNotFound)
	assert.Equal(t, 2, f.count("/apis/missing.example.com/v1"))
}

func TestDiscoveryLRUBound(t *testing.T) {
	f := newFakeAPIServer(t)
	r, err := Discovery(&rest.Config{Host: f.URL}, DiscoveryOptions{CacheSize: 1})
	require.NoError(t, err)
	ctx := context.Background()
	cm := schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}

	_, err = r.Resolve(ctx, cm)
	require.NoError(t, err)
	_, err = r.Resolve(ctx, widgetGVK)
	require.NoError(t, err)
	assert.Equal(t, 1, r.CachedGroupVersions())
	_, err = r.Resolve(ctx, widgetGVK)
	require.NoError(t, err)
	assert.Equal(t, 1, f.count("/openapi/v3/apis/example.com/v1"))
	_, err = r.Resolve(ctx, cm) // evicted: fetched again
	require.NoError(t, err)
	assert.Equal(t, 2, f.count("/openapi/v3/api/v1"))
}

func TestDiscoveryInvalidateAndReset(t *testing.T) {
	f := newFakeAPIServer(t)
	r, err := Discovery(&rest.Config{Host: f.URL}, DiscoveryOptions{})
	require.NoError(t, err)
	ctx := context.Background()

	w, err := r.Resolve(ctx, widgetGVK)
	require.NoError(t, err)
	assert.Contains(t, prop(t, w.Schema, "spec").Properties, "size")

	f.setWidgetField("colour")
	w, err = r.Resolve(ctx, widgetGVK)
	require.NoError(t, err)
	assert.Contains(t, prop(t, w.Schema, "spec").Properties, "size", "cached until invalidated")

	r.Invalidate(widgetGVK.GroupVersion())
	w, err = r.Resolve(ctx, widgetGVK)
	require.NoError(t, err)
	assert.Contains(t, prop(t, w.Schema, "spec").Properties, "colour")

	f.setWidgetField("weight")
	r.Reset()
	assert.Equal(t, 0, r.CachedGroupVersions())
	w, err = r.Resolve(ctx, widgetGVK)
	require.NoError(t, err)
	assert.Contains(t, prop(t, w.Schema, "spec").Properties, "weight")
}

func TestDiscoveryConcurrentMisses(t *testing.T) {
	f := newFakeAPIServer(t)
	r, err := Discovery(&rest.Config{Host: f.URL}, DiscoveryOptions{})
	require.NoError(t, err)
	var wg sync.WaitGroup
	results := make([]*Resolved, 16)
	errs := make([]error, 16)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = r.Resolve(context.Background(), schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
		}()
	}
	wg.Wait()
	for i := range results {
		// apps/v1 is not served by the fake: every caller gets NotFound.
		require.ErrorIs(t, errs[i], ErrNotFound)
	}

	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = r.Resolve(context.Background(), schema.GroupVersionKind{Version: "v1", Kind: "Secret"})
		}()
	}
	wg.Wait()
	for i := range results {
		require.NoError(t, errs[i])
		assert.Same(t, results[0], results[i])
	}
	assert.Equal(t, 1, f.count("/openapi/v3/api/v1"), "concurrent misses share one fetch")
}

func TestDiscoveryContextCancelled(t *testing.T) {
	f := newFakeAPIServer(t)
	r, err := Discovery(&rest.Config{Host: f.URL}, DiscoveryOptions{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = r.Resolve(ctx, widgetGVK)
	require.ErrorIs(t, err, context.Canceled)
}
