package watch

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
)

func TestFieldTreePrunes(t *testing.T) {
	tree := newFieldTree([][]string{
		{"spec", "template", "spec", "containers", "image"},
		{"spec", "template", "spec", "containers", "name"},
		{"status", "availableReplicas"},
		{"data"},
	})
	obj := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "labels": map[string]any{"a": "b"}},
		"spec": map[string]any{
			"replicas": int64(1),
			"template": map[string]any{"spec": map[string]any{
				"dnsPolicy": "ClusterFirst",
				"containers": []any{
					map[string]any{"name": "web", "image": "nginx", "imagePullPolicy": "Always"},
					map[string]any{"name": "side", "image": "busybox", "terminationMessagePath": "/dev/x"},
				},
			}},
		},
		"status": map[string]any{"availableReplicas": int64(1), "conditions": []any{"x"}},
		"data":   map[string]any{"anything": map[string]any{"deep": "kept"}},
	}
	tree.prune(obj)
	assert.Equal(t, map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "labels": map[string]any{"a": "b"}},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers": []any{
				map[string]any{"name": "web", "image": "nginx"},
				map[string]any{"name": "side", "image": "busybox"},
			},
		}}},
		"status": map[string]any{"availableReplicas": int64(1)},
		"data":   map[string]any{"anything": map[string]any{"deep": "kept"}},
	}, obj)

	var everything *fieldTree
	before := map[string]any{"x": "y"}
	everything.prune(before)
	assert.Equal(t, map[string]any{"x": "y"}, before, "a nil tree keeps everything")
}

// TestFieldTreeKeepsManagedFieldsOnlyWhenAsked checks that informers drop
// metadata.managedFields unless an owner asks for them, that asking widens
// a tree (so the informer is restarted keeping them), and that a union keeps
// them whenever one side does, even with everything else.
func TestFieldTreeKeepsManagedFieldsOnlyWhenAsked(t *testing.T) {
	object := func() *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "web", "managedFields": []any{map[string]any{"manager": "hpa"}}},
			"spec":     map[string]any{"replicas": int64(3), "paused": false},
		}}
	}
	plain := newFieldTree([][]string{{"spec", "replicas"}})
	managed := newFieldTree([][]string{{"spec", "replicas"}, ManagedFields()})
	everythingManaged := newFieldTree([][]string{{}, ManagedFields()})

	for _, tc := range []struct {
		name        string
		keep        *fieldTree
		wantManaged bool
		wantPaused  bool
	}{
		{"every field", nil, false, true},
		{"some fields", plain, false, false},
		{"some fields and managedFields", managed, true, false},
		{"every field and managedFields", everythingManaged, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := object()
			trimObject(u, tc.keep)
			_, hasManaged, _ := unstructured.NestedSlice(u.Object, "metadata", "managedFields")
			_, hasPaused, _ := unstructured.NestedBool(u.Object, "spec", "paused")
			assert.Equal(t, tc.wantManaged, hasManaged, "managedFields")
			assert.Equal(t, tc.wantPaused, hasPaused, "spec.paused")
			assert.Equal(t, int64(3), u.Object["spec"].(map[string]any)["replicas"])
		})
	}

	var all *fieldTree
	assert.False(t, plain.covers(managed), "asking for managedFields needs a wider informer")
	assert.False(t, all.covers(managed), "even one keeping every other field")
	assert.True(t, managed.covers(plain))
	assert.True(t, everythingManaged.covers(managed))
	assert.True(t, union(plain, managed).keepsManagedFields())
	assert.True(t, union(all, managed).covers(everythingManaged), "everything, and managedFields")
	assert.Nil(t, union(all, plain), "without managedFields, everything is nil as before")
}

func TestFieldTreeUnionAndCovers(t *testing.T) {
	a := newFieldTree([][]string{{"spec", "a"}})
	b := newFieldTree([][]string{{"spec", "b"}, {"status"}})
	u := union(a, b)
	assert.True(t, u.covers(a))
	assert.True(t, u.covers(b))
	assert.False(t, a.covers(b))
	assert.False(t, a.covers(u))
	assert.True(t, u.covers(newFieldTree([][]string{{"status", "deep", "field"}})), "status is kept whole")
	var all *fieldTree
	assert.True(t, all.covers(a))
	assert.False(t, a.covers(all), "a pruning tree does not cover everything")
	assert.Nil(t, union(a, nil))
	assert.True(t, newFieldTree([][]string{{"spec"}}).covers(newFieldTree([][]string{{"spec", "x"}})))
}

// TestWatchFieldsWidensTheCache checks that an informer keeps only what its
// owners use, and that an owner using more restarts it: the cache handed
// out earlier then holds the wider objects and both owners keep receiving
// events.
func TestWatchFieldsWidensTheCache(t *testing.T) {
	cs, dc := clients(t)
	ns := devclustertest.Namespace(t)
	ctx := context.Background()
	_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cm", Labels: map[string]string{"l": "v"}},
		Data:       map[string]string{"a": "1", "b": "2", "c": "3"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	m := NewManager(dc, Options{})
	defer m.Stop()
	key := Key{GVR: configMaps}
	recA, recB := &recorder{}, &recorder{}
	cacheA, err := m.WatchFields(ctx, "a", key, [][]string{{"data", "a"}}, recA.handle)
	require.NoError(t, err)
	data := func(c Cache) map[string]any {
		got, ok := c.Get(ns, "cm")
		require.True(t, ok)
		assert.Equal(t, "cm", got.GetName(), "metadata is always kept")
		assert.Equal(t, map[string]string{"l": "v"}, got.GetLabels())
		d, _, _ := unstructured.NestedMap(got.Object, "data")
		return d
	}
	assert.Equal(t, map[string]any{"a": "1"}, data(cacheA))

	// A second owner using a field the informer drops: it is restarted.
	first := doneOf(t, m, key)
	cacheB, err := m.WatchFields(ctx, "b", key, [][]string{{"data", "b"}}, recB.handle)
	require.NoError(t, err)
	requireStopped(t, first)
	assert.Equal(t, map[string]any{"a": "1", "b": "2"}, data(cacheA), "the first owner's cache reads the new informer")
	assert.Equal(t, map[string]any{"a": "1", "b": "2"}, data(cacheB))

	// An owner within what is kept does not restart it.
	second := doneOf(t, m, key)
	_, err = m.WatchFields(ctx, "c", key, [][]string{{"data", "a"}}, func(Event) {})
	require.NoError(t, err)
	assert.Equal(t, second, doneOf(t, m, key))

	// Both owners receive the events of the new informer.
	_, err = cs.CoreV1().ConfigMaps(ns).Update(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cm", Labels: map[string]string{"l": "v"}},
		Data:       map[string]string{"a": "changed", "b": "2", "c": "3"},
	}, metav1.UpdateOptions{})
	require.NoError(t, err)
	for _, rec := range []*recorder{recA, recB} {
		require.Eventually(t, func() bool { return len(rec.of(Updated, ns, "cm")) > 0 }, wait, tick)
	}
	require.Eventually(t, func() bool { return data(cacheA)["a"] == "changed" }, wait, tick)

	// An owner that uses everything: the objects are kept whole.
	_, err = m.Watch(ctx, "d", key, func(Event) {})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"a": "changed", "b": "2", "c": "3"}, data(cacheA))
}

// heldLists is a transport that holds the first hold reads of ConfigMaps
// (a list, or the watch that streams the initial list) until release is
// closed (or the request is cancelled), then fails them with a 500:
// informers whose first list is slow.
type heldLists struct {
	next    http.RoundTripper
	hold    atomic.Int32
	entered chan struct{} // one send per held list
	release chan struct{}
}

func (h *heldLists) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet || !strings.HasSuffix(req.URL.Path, "/configmaps") || h.hold.Add(-1) < 0 {
		return h.next.RoundTrip(req)
	}
	h.entered <- struct{}{}
	select {
	case <-h.release:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	return &http.Response{StatusCode: http.StatusInternalServerError, Status: "500 Internal Server Error",
		Header: http.Header{"Content-Type": {"text/plain"}}, Body: io.NopCloser(strings.NewReader("held")), Request: req}, nil
}

// waitEntered waits until the transport holds one more request.
func (h *heldLists) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-h.entered:
	case <-time.After(wait):
		t.Fatal("no request was held")
	}
}

func heldClient(t *testing.T, hold int32) (*heldLists, dynamic.Interface) {
	t.Helper()
	devclustertest.RequireCluster(t)
	h := &heldLists{entered: make(chan struct{}, hold), release: make(chan struct{})}
	h.hold.Store(hold)
	cfg := rest.CopyConfig(devclustertest.Config())
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { h.next = rt; return h }
	dc, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	return h, dc
}

func owners(m *Manager, key Key) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	if e := m.informers[key]; e != nil {
		for o := range e.owners {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return out
}

// A Watch still waiting for its informer's first list when a wider
// informer replaces it waits for the new one instead of failing.
func TestWatchWaitingWhileReplacedFollowsTheNewInformer(t *testing.T) {
	h, dc := heldClient(t, 1)
	m := NewManager(dc, Options{})
	defer m.Stop()
	ctx := context.Background()
	key := Key{GVR: configMaps}

	errA := make(chan error, 1)
	go func() {
		_, err := m.WatchFields(ctx, "a", key, [][]string{{"data"}}, func(Event) {})
		errA <- err
	}()
	h.waitEntered(t)
	_, err := m.Watch(ctx, "b", key, func(Event) {})
	require.NoError(t, err, "the wider informer's list is not held")
	close(h.release)
	select {
	case err := <-errA:
		require.NoError(t, err)
	case <-time.After(wait):
		t.Fatal("the first Watch did not return")
	}
	assert.Equal(t, []string{"a", "b"}, owners(m, key))
}

// A Watch that fails while a wider informer is replacing the one it
// registered on leaves no registration behind.
func TestWatchFailingWhileReplacedLeavesNoRegistration(t *testing.T) {
	h, dc := heldClient(t, 2) // both informers' first lists
	m := NewManager(dc, Options{})
	defer m.Stop()
	key := Key{GVR: configMaps}

	ctxA, cancelA := context.WithCancel(context.Background())
	errA, errB := make(chan error, 1), make(chan error, 1)
	go func() {
		_, err := m.WatchFields(ctxA, "a", key, [][]string{{"data"}}, func(Event) {})
		errA <- err
	}()
	h.waitEntered(t)
	go func() {
		_, err := m.Watch(context.Background(), "b", key, func(Event) {})
		errB <- err
	}()
	h.waitEntered(t)
	require.Equal(t, []string{"a", "b"}, owners(m, key), "the new informer carries the waiting registration")
	cancelA()
	select {
	case err := <-errA:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(wait):
		t.Fatal("the first Watch did not return")
	}
	assert.Equal(t, []string{"b"}, owners(m, key))
	close(h.release)
	select {
	case err := <-errB:
		require.NoError(t, err, "the wider informer retries its list")
	case <-time.After(wait):
		t.Fatal("the second Watch did not return")
	}
	assert.Equal(t, []string{"b"}, owners(m, key))
}
