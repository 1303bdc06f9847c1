package rgd

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestWithNotServed(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	const msg = `rgd cannot serve kind App: secrets is forbidden`
	instance := func(conds ...any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "a", "generation": int64(3)}}}
		if conds != nil {
			u.Object["status"] = map[string]any{"conditions": conds}
		}
		return u
	}
	ready := func(u *unstructured.Unstructured) map[string]any {
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			if m := c.(map[string]any); m["type"] == "Ready" {
				return m
			}
		}
		return nil
	}

	t.Run("an instance without status gets the condition", func(t *testing.T) {
		u := instance()
		assert.True(t, withNotServed(u, msg, now))
		assert.Equal(t, map[string]any{"type": "Ready", "status": "False", "reason": "FailedToStart", "message": msg,
			"observedGeneration": int64(3), "lastTransitionTime": "2026-12-06T12:00:00Z"}, ready(u))
	})
	t.Run("a Ready instance flips, its other conditions stay", func(t *testing.T) {
		other := map[string]any{"type": "GraphResolved", "status": "True"}
		u := instance(other, map[string]any{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"})
		assert.True(t, withNotServed(u, msg, now))
		assert.Equal(t, "2026-12-06T12:00:00Z", ready(u)["lastTransitionTime"], "the status flipped")
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		assert.Equal(t, other, conds[0])
		assert.Len(t, conds, 2)
	})
	t.Run("a new reason keeps the time of a status that did not flip", func(t *testing.T) {
		u := instance(map[string]any{"type": "Ready", "status": "False", "reason": "NotReady", "lastTransitionTime": "2026-01-01T00:00:00Z"})
		assert.True(t, withNotServed(u, msg, now))
		assert.Equal(t, "2026-01-01T00:00:00Z", ready(u)["lastTransitionTime"])
		assert.Equal(t, "FailedToStart", ready(u)["reason"])
	})
	t.Run("an instance already saying so is not written", func(t *testing.T) {
		u := instance(map[string]any{"type": "Ready", "status": "False", "reason": "FailedToStart", "message": msg})
		assert.False(t, withNotServed(u, msg, now))
	})
}
