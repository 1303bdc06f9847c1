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
			r := &Reconciler{}
			r.instanceWrites.Store(key, writtenObject{obj: instanceAt("u1", "11", "ACTIVE"), at: tc.at})
			got := r.latestInstance(gvr, tc.cached)
			assert.Equal(t, tc.want, got.Object["status"].(map[string]any)["state"])
			_, kept := r.instanceWrites.Load(key)
			assert.Equal(t, !tc.forgets, kept, "whether rgd's write is still remembered")
		})
	}
}

// TestOwnWriteEchoIsRecognised checks that only the exact version rgd wrote
// counts as its own write: any other change must reach a reconcile.
func TestOwnWriteEchoIsRecognised(t *testing.T) {
	gvr := schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "apps"}
	r := &Reconciler{}
	assert.False(t, r.isOwnWrite(gvr, instanceAt("u1", "11", "ACTIVE")), "nothing written yet")
	r.rememberInstance(gvr, instanceAt("u1", "11", "ACTIVE"))
	assert.True(t, r.isOwnWrite(gvr, instanceAt("u1", "11", "ACTIVE")))
	assert.False(t, r.isOwnWrite(gvr, instanceAt("u1", "12", "ACTIVE")), "a later change by someone else")
	assert.False(t, r.isOwnWrite(gvr, instanceAt("u2", "11", "ACTIVE")), "another object of that name")
}
