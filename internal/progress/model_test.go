package progress

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/manifest"
)

// cartsStack is the CartsStack example's RGD, as read from its file.
func cartsStack(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	docs, err := manifest.ReadFile(filepath.Join("..", "..", "examples", "cartsstack", "rgd.yaml"))
	require.NoError(t, err)
	return docs[0].Object.DeepCopy()
}

func withStatus(t *testing.T, u *unstructured.Unstructured, status map[string]any) *v1alpha1.ResourceGraphDefinition {
	t.Helper()
	u = u.DeepCopy()
	require.NoError(t, unstructured.SetNestedField(u.Object, status, "status"))
	rgd, err := DecodeRGD(u)
	require.NoError(t, err)
	return rgd
}

func TestReadRGD(t *testing.T) {
	u := cartsStack(t)
	rgd, err := DecodeRGD(u)
	require.NoError(t, err)
	assert.Equal(t, "CartsStack", InstanceKind(rgd).Kind)
	assert.Equal(t, "kro.run", InstanceKind(rgd).Group)
	order, refs := resourceRefs(rgd)
	assert.Equal(t, []string{"ns", "table", "sa", "config", "deployment", "service"}, order, "spec order until the status has one")
	assert.Equal(t, resourceRef{apiVersion: "dynamodb.services.k8s.aws/v1alpha1", kind: "Table", name: "items", namespace: "${schema.spec.namespace}"}, refs["table"])

	rgd = withStatus(t, u, map[string]any{
		"state":            "Inactive",
		"topologicalOrder": []any{"ns", "table"},
		"conditions": []any{
			map[string]any{"type": "GraphAccepted", "status": "False", "reason": "InvalidResourceGraph", "message": "resource table: bad"},
			map[string]any{"type": "Ready", "status": "False", "message": "not ready"},
		},
	})
	order, _ = resourceRefs(rgd)
	assert.Equal(t, []string{"ns", "table"}, order)
	st := Summarize(rgd)
	assert.Equal(t, v1alpha1.StateInactive, st.State)
	assert.Equal(t, "resource table: bad", st.Message)
	assert.True(t, st.Refused)
}

func TestSummarizeRefusesOnlyAnInvalidGraph(t *testing.T) {
	u := cartsStack(t)
	for _, tc := range []struct {
		reason  string
		refused bool
	}{
		{v1alpha1.ReasonInvalidResourceGraph, true},
		{v1alpha1.ReasonUnknownKind, false},       // a CRD may still be published
		{v1alpha1.ReasonSchemaUnavailable, false}, // retried
	} {
		t.Run(tc.reason, func(t *testing.T) {
			st := Summarize(withStatus(t, u, map[string]any{
				"state": "Inactive",
				"conditions": []any{
					map[string]any{"type": "Ready", "status": "False", "reason": tc.reason, "message": "from Ready"},
					// The message says "unknown kind" whatever the reason: only the reason counts.
					map[string]any{"type": "GraphAccepted", "status": "False", "reason": tc.reason, "message": "unknown kind Table"},
				},
			}))
			assert.Equal(t, tc.refused, st.Refused)
			assert.Equal(t, "unknown kind Table", st.Message, "GraphAccepted's message before Ready's")
		})
	}
	st := Summarize(withStatus(t, u, map[string]any{
		"state":      "Active",
		"conditions": []any{map[string]any{"type": "GraphAccepted", "status": "False", "reason": v1alpha1.ReasonInvalidResourceGraph, "message": "stale"}},
	}))
	assert.Equal(t, RGD{Name: "cartsstack", State: v1alpha1.StateActive}, st, "an Active RGD has nothing to say")
}
