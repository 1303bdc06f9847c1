package watch

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"github.com/rgd-dev/rgd/pkg/devcluster"
	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
)

func TestMain(m *testing.M) { devclustertest.Main(m, devcluster.Options{}) }

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// Deadlines for polls against the API server: generous, they only bound a
// failing test.
const (
	wait = 30 * time.Second
	tick = 20 * time.Millisecond
)

// recorder collects the events one handler receives.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) handle(ev Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

// of returns the events of type t for namespace/name.
func (r *recorder) of(t EventType, ns, name string) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, ev := range r.events {
		if ev.Type == t && ev.Object.GetNamespace() == ns && ev.Object.GetName() == name {
			out = append(out, ev)
		}
	}
	return out
}

// inNamespace returns the names of all objects r heard about in ns.
func (r *recorder) inNamespace(ns string) map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]bool{}
	for _, ev := range r.events {
		if ev.Object.GetNamespace() == ns {
			out[ev.Object.GetName()] = true
		}
	}
	return out
}

func clients(t *testing.T) (kubernetes.Interface, dynamic.Interface) {
	t.Helper()
	devclustertest.RequireCluster(t)
	cs, err := kubernetes.NewForConfig(devclustertest.Config())
	require.NoError(t, err)
	dc, err := dynamic.NewForConfig(devclustertest.Config())
	require.NoError(t, err)
	return cs, dc
}

func createCM(t *testing.T, cs kubernetes.Interface, ns, name string, lbls, ann map[string]string) *corev1.ConfigMap {
	t.Helper()
	c, err := cs.CoreV1().ConfigMaps(ns).Create(context.Background(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls, Annotations: ann},
		Data:       map[string]string{"k": "v"},
	}, metav1.CreateOptions{FieldManager: "watch-test"})
	require.NoError(t, err)
	return c
}

// doneOf returns the channel closed when key's informer has stopped.
func doneOf(t *testing.T, m *Manager, key Key) <-chan struct{} {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.informers[key]
	require.True(t, ok, "no informer for %s", key)
	return e.done
}

func requireStopped(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("informer still running")
	}
}

func TestWatchSeesEventsAndFillsCache(t *testing.T) {
	cs, dc := clients(t)
	ns := devclustertest.Namespace(t)
	ctx := context.Background()

	before := createCM(t, cs, ns, "before", map[string]string{"kro.run/instance-id": "uid-1"},
		map[string]string{lastApplied: `{"big":"blob"}`, "keep": "me"})
	require.NotEmpty(t, before.ManagedFields, "the API server records managedFields")

	var countMu sync.Mutex
	counts := map[EventType]int{}
	m := NewManager(dc, Options{OnEvent: func(gvr schema.GroupVersionResource, et EventType) {
		assert.Equal(t, configMaps, gvr)
		countMu.Lock()
		counts[et]++
		countMu.Unlock()
	}})
	defer m.Stop()

	rec := &recorder{}
	key := Key{GVR: configMaps}
	c, err := m.Watch(ctx, "owner-a", key, rec.handle)
	require.NoError(t, err)
	require.True(t, c.HasSynced())
	// Watch returns only after existing objects were delivered.
	require.Len(t, rec.of(Added, ns, "before"), 1)

	// The cache holds the full object, without managedFields and last-applied.
	got, ok := c.Get(ns, "before")
	require.True(t, ok)
	assert.Nil(t, got.GetManagedFields())
	assert.Equal(t, map[string]string{"keep": "me"}, got.GetAnnotations())
	data, _, _ := unstructured.NestedString(got.Object, "data", "k")
	assert.Equal(t, "v", data)
	_, ok = c.Get(ns, "absent")
	assert.False(t, ok)

	// Added, Updated, Deleted for a new object.
	after := createCM(t, cs, ns, "after", map[string]string{"kro.run/instance-id": "uid-1", "tier": "web"}, nil)
	require.Eventually(t, func() bool { return len(rec.of(Added, ns, "after")) == 1 }, wait, tick)

	after.Data = map[string]string{"k": "changed"}
	_, err = cs.CoreV1().ConfigMaps(ns).Update(ctx, after, metav1.UpdateOptions{FieldManager: "watch-test"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(rec.of(Updated, ns, "after")) == 1 }, wait, tick)
	upd := rec.of(Updated, ns, "after")[0]
	oldData, _, _ := unstructured.NestedString(upd.Old.Object, "data", "k")
	newData, _, _ := unstructured.NestedString(upd.Object.Object, "data", "k")
	assert.Equal(t, "v", oldData)
	assert.Equal(t, "changed", newData)
	assert.Nil(t, upd.Object.GetManagedFields())

	// Cache reads: List by namespace and selector, ByIndex by instance.
	require.Len(t, c.List(ns, nil), 2)
	require.Len(t, c.List(ns, labels.Everything()), 2)
	web := c.List(ns, labels.SelectorFromSet(labels.Set{"tier": "web"}))
	require.Len(t, web, 1)
	assert.Equal(t, "after", web[0].GetName())
	assert.GreaterOrEqual(t, len(c.List("", nil)), 2)
	assert.Equal(t, len(c.List("", nil)), c.Len())
	assert.Contains(t, c.Names(), types.NamespacedName{Namespace: ns, Name: "after"})
	assert.Len(t, c.Names(), c.Len())
	// Each read decodes a copy of its own.
	first, _ := c.Get(ns, "after")
	first.SetLabels(nil)
	second, _ := c.Get(ns, "after")
	assert.Equal(t, "web", second.GetLabels()["tier"])
	assert.Empty(t, c.List("no-such-namespace", nil))
	assert.Len(t, c.ByIndex(IndexByInstance, "uid-1"), 2)
	assert.Empty(t, c.ByIndex(IndexByInstance, "uid-2"))
	assert.Nil(t, c.ByIndex("no-such-index", "x"))

	require.NoError(t, cs.CoreV1().ConfigMaps(ns).Delete(ctx, "after", metav1.DeleteOptions{}))
	require.Eventually(t, func() bool { return len(rec.of(Deleted, ns, "after")) == 1 }, wait, tick)
	assert.Equal(t, "changed", func() string {
		s, _, _ := unstructured.NestedString(rec.of(Deleted, ns, "after")[0].Object.Object, "data", "k")
		return s
	}(), "a delete carries the last known state")
	require.Eventually(t, func() bool { _, ok := c.Get(ns, "after"); return !ok }, wait, tick)
	assert.Len(t, c.ByIndex(IndexByInstance, "uid-1"), 1)

	// OnEvent counted each event (one handler here, but counting is per
	// informer). It runs as a handler of its own, so it may lag rec.
	require.Eventually(t, func() bool {
		countMu.Lock()
		defer countMu.Unlock()
		return counts[Added] >= 2 && counts[Updated] >= 1 && counts[Deleted] >= 1
	}, wait, tick, "events counted by OnEvent")
}

func TestSelectorKeySeesOnlyMatchingObjects(t *testing.T) {
	cs, dc := clients(t)
	ns := devclustertest.Namespace(t)
	m := NewManager(dc, Options{})
	defer m.Stop()

	createCM(t, cs, ns, "match-early", map[string]string{"app": "x"}, nil)
	createCM(t, cs, ns, "other-early", map[string]string{"app": "y"}, nil)

	rec := &recorder{}
	key := Key{GVR: configMaps, Selector: "app = x"}
	c, err := m.Watch(context.Background(), "owner", key, rec.handle)
	require.NoError(t, err)
	assert.Equal(t, []Key{{GVR: configMaps, Selector: "app=x"}}, m.Keys(), "the selector is normalised")

	createCM(t, cs, ns, "other-late", map[string]string{"app": "y"}, nil)
	createCM(t, cs, ns, "match-late", map[string]string{"app": "x"}, nil)
	require.Eventually(t, func() bool { _, ok := c.Get(ns, "match-late"); return ok }, wait, tick)
	require.Eventually(t, func() bool { return len(rec.of(Added, ns, "match-late")) == 1 }, wait, tick)

	var got []string
	for _, o := range c.List(ns, nil) {
		got = append(got, o.GetName())
	}
	assert.ElementsMatch(t, []string{"match-early", "match-late"}, got)
	assert.Equal(t, map[string]bool{"match-early": true, "match-late": true}, rec.inNamespace(ns))

	// Any spelling of the selector finds the same cache.
	c2, ok := m.Cache(Key{GVR: configMaps, Selector: "app=x"})
	require.True(t, ok)
	assert.Equal(t, c, c2)
	_, ok = m.Cache(Key{GVR: configMaps})
	assert.False(t, ok)
}

func TestOwnersShareOneInformer(t *testing.T) {
	cs, dc := clients(t)
	ns := devclustertest.Namespace(t)
	ctx := context.Background()
	m := NewManager(dc, Options{})
	defer m.Stop()

	key := Key{GVR: configMaps}
	recA, recB, recA2 := &recorder{}, &recorder{}, &recorder{}
	cA, err := m.Watch(ctx, "a", key, recA.handle)
	require.NoError(t, err)
	cB, err := m.Watch(ctx, "b", key, recB.handle)
	require.NoError(t, err)
	// A second Watch by the same owner adds no handler and returns the same cache.
	cA2, err := m.Watch(ctx, "a", key, recA2.handle)
	require.NoError(t, err)
	assert.Equal(t, cA, cB)
	assert.Equal(t, cA, cA2)
	assert.Equal(t, []Key{key}, m.Keys())
	done := doneOf(t, m, key)

	createCM(t, cs, ns, "one", nil, nil)
	require.Eventually(t, func() bool {
		return len(recA.of(Added, ns, "one")) == 1 && len(recB.of(Added, ns, "one")) == 1
	}, wait, tick)

	m.Release("a", key)
	assert.Equal(t, []Key{key}, m.Keys(), "b still needs the informer")
	m.Release("a", key) // releasing twice does nothing
	m.Release("nobody", key)
	createCM(t, cs, ns, "two", nil, nil)
	require.Eventually(t, func() bool { return len(recB.of(Added, ns, "two")) == 1 }, wait, tick)
	select {
	case <-done:
		t.Fatal("informer stopped while b still owns it")
	default:
	}

	m.Release("b", key)
	assert.Empty(t, m.Keys())
	requireStopped(t, done)
	_, ok := m.Cache(key)
	assert.False(t, ok)

	// The handler of a's second Watch was never registered, and a's own one
	// saw nothing after its release.
	assert.Empty(t, recA2.inNamespace(ns))
	assert.Empty(t, recA.of(Added, ns, "two"))

	// Watching again starts a fresh informer that lists what exists.
	recC := &recorder{}
	c, err := m.Watch(ctx, "c", key, recC.handle)
	require.NoError(t, err)
	assert.Len(t, c.List(ns, nil), 2)
	assert.Len(t, recC.inNamespace(ns), 2)
}

func TestReleaseAll(t *testing.T) {
	_, dc := clients(t)
	ctx := context.Background()
	m := NewManager(dc, Options{})
	defer m.Stop()

	all := Key{GVR: configMaps}
	some := Key{GVR: configMaps, Selector: "app=x"}
	secrets := Key{GVR: schema.GroupVersionResource{Version: "v1", Resource: "secrets"}}
	for _, k := range []Key{all, some, secrets} {
		_, err := m.Watch(ctx, "a", k, func(Event) {})
		require.NoError(t, err)
	}
	_, err := m.Watch(ctx, "b", some, func(Event) {})
	require.NoError(t, err)
	assert.Equal(t, []Key{all, some, secrets}, m.Keys())
	doneAll, doneSecrets, doneSome := doneOf(t, m, all), doneOf(t, m, secrets), doneOf(t, m, some)

	m.ReleaseAll("a")
	assert.Equal(t, []Key{some}, m.Keys())
	requireStopped(t, doneAll)
	requireStopped(t, doneSecrets)

	m.ReleaseAll("b")
	assert.Empty(t, m.Keys())
	requireStopped(t, doneSome)
}

func TestStopEndsEveryInformer(t *testing.T) {
	_, dc := clients(t)
	ctx := context.Background()
	m := NewManager(dc, Options{})

	keys := []Key{{GVR: configMaps}, {GVR: configMaps, Selector: "app=x"}}
	for _, k := range keys {
		_, err := m.Watch(ctx, "a", k, func(Event) {})
		require.NoError(t, err)
	}
	var dones []<-chan struct{}
	for _, k := range keys {
		dones = append(dones, doneOf(t, m, k))
	}
	m.Stop()
	assert.Empty(t, m.Keys())
	for _, d := range dones {
		select {
		case <-d:
		default:
			t.Fatal("Stop returned before an informer stopped")
		}
	}
	_, err := m.Watch(ctx, "a", keys[0], func(Event) {})
	require.ErrorIs(t, err, ErrStopped)
	m.Stop() // a second Stop does nothing
	m.ReleaseAll("a")
}

func TestWatchMissingResourceFailsFast(t *testing.T) {
	_, dc := clients(t)
	m := NewManager(dc, Options{SyncTimeout: 10 * time.Minute})
	defer m.Stop()

	key := Key{GVR: schema.GroupVersionResource{Group: "nothing.example.com", Version: "v1", Resource: "widgets"}}
	_, err := m.Watch(context.Background(), "a", key, func(Event) {})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nothing.example.com")
	assert.Contains(t, err.Error(), "could not find the requested resource")
	assert.Empty(t, m.Keys(), "a failed Watch leaves nothing running")
}

func TestWatchGivesUpWhenContextEnds(t *testing.T) {
	_, dc := clients(t)
	m := NewManager(dc, Options{})
	defer m.Stop()

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	key := Key{GVR: configMaps}
	// The informer may or may not have synced by the time Watch looks; when
	// it has not, Watch reports the context and undoes its registration.
	_, err := m.Watch(ctx, "a", key, func(Event) {})
	if err != nil {
		require.ErrorIs(t, err, context.Canceled)
		assert.Empty(t, m.Keys())
	}
}

// TestMetadataOnlyKeyKeepsOnlyMetadata checks both ways a MetadataOnly
// informer is served (the metadata API, and full objects trimmed): the
// cache knows which objects exist, with their labels, but holds no data and
// no managedFields; deletions reach the handler.
func TestMetadataOnlyKeyKeepsOnlyMetadata(t *testing.T) {
	cs, dc := clients(t)
	mc, err := metadata.NewForConfig(devclustertest.Config())
	require.NoError(t, err)
	for name, opts := range map[string]Options{"metadata API": {Metadata: mc}, "trimmed full objects": {}} {
		t.Run(name, func(t *testing.T) {
			ns := devclustertest.Namespace(t)
			m := NewManager(dc, opts)
			defer m.Stop()
			createCM(t, cs, ns, "early", map[string]string{"app": "x"}, nil)

			rec := &recorder{}
			key := Key{GVR: configMaps, Selector: "app!=y", MetadataOnly: true}
			c, err := m.Watch(context.Background(), "owner", key, rec.handle)
			require.NoError(t, err)
			createCM(t, cs, ns, "late", map[string]string{"app": "x"}, nil)
			createCM(t, cs, ns, "excluded", map[string]string{"app": "y"}, nil)
			require.Eventually(t, func() bool { _, ok := c.Get(ns, "late"); return ok }, wait, tick)

			for _, name := range []string{"early", "late"} {
				obj, ok := c.Get(ns, name)
				require.True(t, ok, name)
				assert.Equal(t, "x", obj.GetLabels()["app"])
				assert.NotEmpty(t, obj.GetUID())
				assert.Equal(t, "v1", obj.GetAPIVersion())
				assert.NotContains(t, obj.Object, "data", "only metadata is cached")
				assert.Empty(t, obj.GetManagedFields())
			}
			_, ok := c.Get(ns, "excluded")
			assert.False(t, ok, "the selector applies")

			require.NoError(t, cs.CoreV1().ConfigMaps(ns).Delete(context.Background(), "late", metav1.DeleteOptions{}))
			require.Eventually(t, func() bool { return len(rec.of(Deleted, ns, "late")) == 1 }, wait, tick)
			_, ok = c.Get(ns, "late")
			assert.False(t, ok)
			assert.Equal(t, "/v1, Resource=configmaps [app!=y] (metadata)", key.String())
		})
	}
}
