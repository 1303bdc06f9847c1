package instance

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

func instanceAt(uid, rv, state string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{"state": state}}}
	u.SetNamespace("ns")
	u.SetName("a")
	u.SetUID(types.UID(uid))
	u.SetResourceVersion(rv)
	return u
}

// TestLatestInstancePrefersOwnNewerWrite checks that a reconcile reads rgd's
// own last write of an instance while the cache lags it, and the cache once
// it has caught up, moved on, or the object was replaced.
func TestLatestInstancePrefersOwnNewerWrite(t *testing.T) {
	gvr := schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "apps"}
	key := writtenKey{gvr: gvr, namespace: "ns", name: "a"}
	for _, tc := range []struct {
		name    string
		cached  *unstructured.Unstructured
		at      time.Time
		want    string // state of the object returned
		forgets bool
	}{
		{name: "cache lags the write", cached: instanceAt("u1", "10", "IN_PROGRESS"), at: time.Now(), want: "ACTIVE"},
		{name: "cache has the write", cached: instanceAt("u1", "11", "ACTIVE"), at: time.Now(), want: "ACTIVE", forgets: true},
		{name: "cache moved past the write", cached: instanceAt("u1", "12", "IN_PROGRESS"), at: time.Now(), want: "IN_PROGRESS", forgets: true},
		{name: "another object of that name", cached: instanceAt("u2", "5", "IN_PROGRESS"), at: time.Now(), want: "IN_PROGRESS", forgets: true},
		{name: "write too old to trust", cached: instanceAt("u1", "10", "IN_PROGRESS"), at: time.Now().Add(-writtenTTL - time.Second), want: "IN_PROGRESS", forgets: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &writeMemory{}
			m.instances.Store(key, writtenObject{obj: instanceAt("u1", "11", "ACTIVE"), at: tc.at})
			got := m.latestInstance(gvr, tc.cached)
			assert.Equal(t, tc.want, got.Object["status"].(map[string]any)["state"])
			_, kept := m.instances.Load(key)
			assert.Equal(t, !tc.forgets, kept, "whether rgd's write is still remembered")
		})
	}
}

// TestOwnWriteEchoIsRecognised checks that only the exact version rgd wrote
// counts as its own write: any other change must reach a reconcile.
func TestOwnWriteEchoIsRecognised(t *testing.T) {
	gvr := schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "apps"}
	m := &writeMemory{}
	assert.False(t, m.isOwnWrite(gvr, instanceAt("u1", "11", "ACTIVE")), "nothing written yet")
	m.rememberInstance(gvr, instanceAt("u1", "11", "ACTIVE"))
	assert.True(t, m.isOwnWrite(gvr, instanceAt("u1", "11", "ACTIVE")))
	assert.False(t, m.isOwnWrite(gvr, instanceAt("u1", "12", "ACTIVE")), "a later change by someone else")
	assert.False(t, m.isOwnWrite(gvr, instanceAt("u2", "11", "ACTIVE")), "another object of that name")
}

// TestLatestChildPrefersOwnNewerWrite checks that deciding about a child
// reads rgd's own write of it while the cache lags it, and the cache once it
// has caught up, moved on, or the object was replaced; a write too old to
// trust never hides a deletion.
func TestLatestChildPrefersOwnNewerWrite(t *testing.T) {
	key := writtenKey{gvr: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, namespace: "ns", name: "a"}
	for _, tc := range []struct {
		name    string
		cached  *unstructured.Unstructured // nil: the cache has no such child
		at      time.Time
		want    string // state of the object returned; "" for none
		forgets bool
	}{
		{name: "cache has not seen the create", at: time.Now(), want: "ACTIVE"},
		{name: "cache lags the write", cached: instanceAt("u1", "10", "OLD"), at: time.Now(), want: "ACTIVE"},
		{name: "cache has the write", cached: instanceAt("u1", "11", "CACHED"), at: time.Now(), want: "CACHED", forgets: true},
		{name: "cache moved past the write", cached: instanceAt("u1", "12", "CACHED"), at: time.Now(), want: "CACHED", forgets: true},
		{name: "another object of that name", cached: instanceAt("u2", "5", "CACHED"), at: time.Now(), want: "CACHED", forgets: true},
		{name: "write too old, child gone", at: time.Now().Add(-writtenTTL - time.Second), want: "", forgets: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &writeMemory{}
			m.children.Store(key, writtenObject{obj: instanceAt("u1", "11", "ACTIVE"), at: tc.at})
			got := m.latestChild(key, tc.cached)
			state := ""
			if got != nil {
				state = got.Object["status"].(map[string]any)["state"].(string)
			}
			assert.Equal(t, tc.want, state)
			_, kept := m.children.Load(key)
			assert.Equal(t, !tc.forgets, kept, "whether rgd's write is still remembered")
		})
	}
	assert.Nil(t, (&writeMemory{}).latestChild(key, nil), "nothing cached, nothing written")
}

// TestAppliedUnchanged checks the record of what rgd applied: it vouches
// for a child only at the resourceVersion rgd's write produced and for the
// same desired state, and is gone with the child.
func TestAppliedUnchanged(t *testing.T) {
	gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	for _, tc := range []struct {
		name   string
		forget func(m *writeMemory)
		live   *unstructured.Unstructured
		hash   string
		want   bool
	}{
		{name: "as applied", live: instanceAt("u1", "7", ""), hash: "h1", want: true},
		{name: "changed since", live: instanceAt("u1", "8", ""), hash: "h1"},
		{name: "another desired state", live: instanceAt("u1", "7", ""), hash: "h2"},
		{name: "another object", live: instanceAt("u2", "7", ""), hash: "h1"},
		{name: "child gone", forget: func(m *writeMemory) { m.childGone("u1") }, live: instanceAt("u1", "7", ""), hash: "h1"},
		{name: "child deleted by rgd", forget: func(m *writeMemory) { m.forgetChild(writtenKey{gvr: gvr, namespace: "ns", name: "a"}, "u1") },
			live: instanceAt("u1", "7", ""), hash: "h1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &writeMemory{}
			m.rememberApplied(instanceAt("u1", "7", ""), "h1")
			if tc.forget != nil {
				tc.forget(m)
			}
			assert.Equal(t, tc.want, m.appliedUnchanged(tc.live, tc.hash))
		})
	}
}

// TestForgetChildDropsItsWrite checks that a child rgd deleted is no longer
// stood in for by rgd's last write of it.
func TestForgetChildDropsItsWrite(t *testing.T) {
	gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	m := &writeMemory{}
	child := instanceAt("u1", "7", "ACTIVE")
	m.rememberChild(gvr, child)
	key := writtenKey{gvr: gvr, namespace: "ns", name: "a"}
	assert.Same(t, child, m.latestChild(key, nil))
	m.forgetChild(key, "u1")
	assert.Nil(t, m.latestChild(key, nil))
}

// TestForgetInstance checks that an instance that is gone leaves no write
// behind that could pass for its echo.
func TestForgetInstance(t *testing.T) {
	gvr := schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "apps"}
	m := &writeMemory{}
	m.rememberInstance(gvr, instanceAt("u1", "11", "ACTIVE"))
	m.forgetInstance(Key{GVR: gvr, Namespace: "ns", Name: "other"})
	assert.True(t, m.isOwnWrite(gvr, instanceAt("u1", "11", "ACTIVE")), "another instance's forgetting")
	m.forgetInstance(Key{GVR: gvr, Namespace: "ns", Name: "a"})
	assert.False(t, m.isOwnWrite(gvr, instanceAt("u1", "11", "ACTIVE")))
}

// TestDeletionStarted checks that an instance's deletion keeps the time it
// was first seen until it is done.
func TestDeletionStarted(t *testing.T) {
	m := &writeMemory{}
	t0 := time.Now()
	assert.Equal(t, t0, m.deletionStarted("u1", t0))
	assert.Equal(t, t0, m.deletionStarted("u1", t0.Add(time.Second)), "the first time stays")
	assert.Equal(t, t0.Add(time.Second), m.deletionStarted("u2", t0.Add(time.Second)), "each instance has its own")
	m.deletionDone("u1")
	assert.Equal(t, t0.Add(2*time.Second), m.deletionStarted("u1", t0.Add(2*time.Second)), "a new deletion starts afresh")
}
