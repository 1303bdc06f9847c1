package instance

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rgd-dev/rgd/internal/conditions"
)

// TestOwnConditions checks the conditions rgd writes on an instance: those
// of the pass, in order, then Ready made of them, each with the instance's
// generation and a transition time that moves only on a flip; conditions
// the pass did not set are not written again.
func TestOwnConditions(t *testing.T) {
	now := time.Date(2024, 1, 1, 1, 0, 0, 0, time.UTC)
	const t0, nowS = "2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z"
	cond := func(typ, status, reason, message, at string) map[string]any {
		return map[string]any{"type": typ, "status": status, "reason": reason, "message": message, "observedGeneration": int64(4), "lastTransitionTime": at}
	}
	for _, tc := range []struct {
		name     string
		previous []any
		conds    []metav1.Condition
		want     []any
	}{
		{name: "ready", conds: []metav1.Condition{managed(), conditions.True(condResourcesReady, "AllResourcesReady", "all resources are created and ready")},
			want: []any{
				cond(condManaged, "True", "Managed", "instance is properly managed with finalizers and labels", nowS),
				cond(condResourcesReady, "True", "AllResourcesReady", "all resources are created and ready", nowS),
				cond(condReady, "True", "Ready", "", nowS),
			}},
		{name: "not ready: Ready says why; unchanged statuses keep their time",
			previous: []any{
				cond(condManaged, "True", "Managed", "instance is properly managed with finalizers and labels", t0),
				cond(condGraphResolved, "True", "Resolved", "runtime graph created and all resources resolved", t0),
				cond(condResourcesReady, "True", "AllResourcesReady", "all resources are created and ready", t0),
				cond(condReady, "True", "Ready", "", t0),
			},
			conds: []metav1.Condition{managed(), conditions.False(condResourcesReady, "ReconciliationSuspended", "suspended")},
			want: []any{
				cond(condManaged, "True", "Managed", "instance is properly managed with finalizers and labels", t0),
				cond(condResourcesReady, "False", "ReconciliationSuspended", "suspended", nowS),
				cond(condReady, "False", "ReconciliationSuspended", "suspended", nowS),
			}},
		{name: "unknown: Ready is unknown too",
			conds: []metav1.Condition{managed(), conditions.Unknown(condResourcesReady, "UnderDeletion", "deleting")},
			want: []any{
				cond(condManaged, "True", "Managed", "instance is properly managed with finalizers and labels", nowS),
				cond(condResourcesReady, "Unknown", "UnderDeletion", "deleting", nowS),
				cond(condReady, "Unknown", "UnderDeletion", "deleting", nowS),
			}},
		{name: "false wins over unknown",
			conds: []metav1.Condition{conditions.Unknown(condGraphResolved, "A", "a"), conditions.False(condResourcesReady, "B", "b")},
			want: []any{
				cond(condGraphResolved, "Unknown", "A", "a", nowS),
				cond(condResourcesReady, "False", "B", "b", nowS),
				cond(condReady, "False", "B", "b", nowS),
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			previous := conditionsByType(map[string]any{"conditions": tc.previous})
			assert.Equal(t, tc.want, ownConditions(previous, tc.conds, 4, now))
		})
	}
}

// TestAuthorConditions checks the conditions of an RGD's status.conditions
// as written on an instance: as the author made them, with generation and
// transition time added, the time kept while the status holds, and, while
// some could not be evaluated, the earlier ones kept.
func TestAuthorConditions(t *testing.T) {
	now := time.Date(2024, 1, 1, 1, 0, 0, 0, time.UTC)
	previous := conditionsByType(map[string]any{"conditions": []any{
		map[string]any{"type": "Serving", "status": "True", "lastTransitionTime": "earlier"},
		map[string]any{"type": "Zeta", "status": "True"},
		map[string]any{"type": "Alpha", "status": "False"},
	}})
	a := &authorConditions{list: []map[string]any{
		{"type": "Serving", "status": "True", "reason": "Up"},
		{"type": "Backed", "status": "False", "observedGeneration": int64(9)},
	}}
	want := []any{
		map[string]any{"type": "Serving", "status": "True", "reason": "Up", "observedGeneration": int64(4), "lastTransitionTime": "earlier"},
		map[string]any{"type": "Backed", "status": "False", "observedGeneration": int64(9), "lastTransitionTime": "2024-01-01T01:00:00Z"},
	}
	assert.Equal(t, want, a.conditions(previous, 4, now))
	a.keepOld = true
	want = append(want, previous["Alpha"], previous["Zeta"])
	assert.Equal(t, want, a.conditions(previous, 4, now), "the earlier ones, by type")
}
