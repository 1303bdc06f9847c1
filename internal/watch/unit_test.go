package watch

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
)

func cm(ns, name string, labels map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("ConfigMap")
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetLabels(labels)
	return u
}

func TestTrim(t *testing.T) {
	u := cm("ns", "a", nil)
	require.NoError(t, unstructured.SetNestedSlice(u.Object, []any{map[string]any{"manager": "x"}}, "metadata", "managedFields"))
	u.SetAnnotations(map[string]string{lastApplied: "{}", "keep": "me"})

	out, err := trim(u)
	require.NoError(t, err)
	got, ok := unpackAny(out)
	require.True(t, ok)
	assert.Nil(t, got.GetManagedFields())
	assert.Equal(t, map[string]string{"keep": "me"}, got.GetAnnotations())

	// Only the last-applied annotation: the annotations map goes away.
	v := cm("ns", "b", nil)
	v.SetAnnotations(map[string]string{lastApplied: "{}"})
	out, err = trim(cache.DeletedFinalStateUnknown{Key: "ns/b", Obj: v})
	require.NoError(t, err)
	tomb, ok := out.(cache.DeletedFinalStateUnknown)
	require.True(t, ok, "a tombstone stays a tombstone")
	got, ok = unpackAny(tomb)
	require.True(t, ok)
	_, found, _ := unstructured.NestedFieldNoCopy(got.Object, "metadata", "annotations")
	assert.False(t, found)

	// An object already packed passes through as it is.
	again, err := trim(out)
	require.NoError(t, err)
	assert.Equal(t, out, again)

	// Anything else passes through untouched.
	out, err = trim("not an object")
	require.NoError(t, err)
	assert.Equal(t, "not an object", out)
	_, err = trim(&unstructured.Unstructured{Object: map[string]any{}})
	require.NoError(t, err)
}

func TestIndexByInstance(t *testing.T) {
	vals, err := indexByInstance(cm("ns", "a", map[string]string{"kro.run/instance-id": "uid-1"}))
	require.NoError(t, err)
	assert.Equal(t, []string{"uid-1"}, vals)

	vals, err = indexByInstance(cm("ns", "a", map[string]string{"other": "x"}))
	require.NoError(t, err)
	assert.Empty(t, vals)

	vals, err = indexByInstance("not an object")
	require.NoError(t, err)
	assert.Empty(t, vals)
}

func TestNormalize(t *testing.T) {
	m := NewManager(nil, Options{})
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	k, err := m.normalize(Key{GVR: gvr, Selector: "b=2, a = 1"})
	require.Nil(t, err)
	assert.Equal(t, "a=1,b=2", k.Selector)
	// The second time comes from the remembered canonical form.
	k, err = m.normalize(Key{GVR: gvr, Selector: "b=2, a = 1"})
	require.Nil(t, err)
	assert.Equal(t, "a=1,b=2", k.Selector)

	k, err = m.normalize(Key{GVR: gvr})
	require.Nil(t, err)
	assert.Empty(t, k.Selector)

	// A bad selector is refused every time, not remembered.
	for range 2 {
		_, err = m.normalize(Key{GVR: gvr, Selector: "a=(("})
		require.NotNil(t, err)
		assert.Equal(t, "key.selector", err.Field)
	}
}

// TestNormalizeForgetsOldSelectors checks that the memo of canonical
// selectors stays bounded however many distinct selectors pass through.
func TestNormalizeForgetsOldSelectors(t *testing.T) {
	m := NewManager(nil, Options{})
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	for i := range selectorMemo + 50 {
		k, err := m.normalize(Key{GVR: gvr, Selector: fmt.Sprintf("rgd=r%d, owned = true", i)})
		require.Nil(t, err)
		assert.Equal(t, fmt.Sprintf("owned=true,rgd=r%d", i), k.Selector)
	}
	assert.Equal(t, selectorMemo, m.selectors.Len())
	// A forgotten selector is parsed again, to the same canonical form.
	k, err := m.normalize(Key{GVR: gvr, Selector: "rgd=r0, owned = true"})
	require.Nil(t, err)
	assert.Equal(t, "owned=true,rgd=r0", k.Selector)
}

func TestKeyAndEventTypeStrings(t *testing.T) {
	gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	assert.Equal(t, "apps/v1, Resource=deployments", Key{GVR: gvr}.String())
	assert.Equal(t, "apps/v1, Resource=deployments [a=b]", Key{GVR: gvr, Selector: "a=b"}.String())
	assert.Equal(t, "Added", Added.String())
	assert.Equal(t, "Updated", Updated.String())
	assert.Equal(t, "Deleted", Deleted.String())
	assert.Equal(t, "EventType(7)", EventType(7).String())
}

func TestEventHandler(t *testing.T) {
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	var got []Event
	h := eventHandler(gvr, func(ev Event) { got = append(got, ev) })
	a, b := cm("ns", "a", nil), cm("ns", "a", map[string]string{"x": "y"})
	pa, err := trim(a.DeepCopy())
	require.NoError(t, err)
	pb, err := trim(b.DeepCopy())
	require.NoError(t, err)

	h.OnAdd(pa, true)
	h.OnUpdate(pa, pb)
	h.OnDelete(pb)
	h.OnDelete(cache.DeletedFinalStateUnknown{Key: "ns/a", Obj: pb})
	h.OnDelete(b) // an object the store could not pack
	h.OnAdd("ignored", false)
	h.OnUpdate("ignored", "ignored")
	h.OnDelete(cache.DeletedFinalStateUnknown{Key: "ns/a", Obj: "ignored"})

	require.Len(t, got, 5)
	assert.Equal(t, Event{Type: Added, GVR: gvr, Object: a}, got[0])
	assert.Equal(t, Event{Type: Updated, GVR: gvr, Object: b, Old: a}, got[1])
	assert.Equal(t, Event{Type: Deleted, GVR: gvr, Object: b}, got[2])
	assert.Equal(t, Event{Type: Deleted, GVR: gvr, Object: b}, got[3])
	assert.Equal(t, Event{Type: Deleted, GVR: gvr, Object: b}, got[4])
}

func TestCountingHandler(t *testing.T) {
	var got []EventType
	h := countingHandler(func(t EventType) { got = append(got, t) })
	h.OnAdd("anything", false)
	h.OnUpdate(nil, nil)
	h.OnDelete(nil)
	assert.Equal(t, []EventType{Added, Updated, Deleted}, got)
}

func TestWatchRejectsBadArguments(t *testing.T) {
	m := NewManager(nil, Options{})
	defer m.Stop()
	_, err := m.Watch(context.Background(), "", Key{Selector: "a=(("}, nil)
	require.Error(t, err)
	for _, want := range []string{"owner", "key.gvr.version", "key.gvr.resource", "key.selector", "handler"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.Empty(t, m.Keys())

	// Release and Cache with a bad selector do nothing.
	m.Release("o", Key{Selector: "a=(("})
	_, ok := m.Cache(Key{Selector: "a=(("})
	assert.False(t, ok)
}

func TestWatchAfterStop(t *testing.T) {
	m := NewManager(nil, Options{})
	m.Stop()
	_, err := m.Watch(context.Background(), "o", Key{GVR: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}}, func(Event) {})
	require.ErrorIs(t, err, ErrStopped)
}
