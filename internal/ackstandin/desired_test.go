package ackstandin

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func table(status map[string]any) *unstructured.Unstructured {
	obj := map[string]any{
		"apiVersion": "dynamodb.services.k8s.aws/v1alpha1",
		"kind":       "Table",
		"metadata":   map[string]any{"name": "items", "namespace": "carts"},
		"spec":       map[string]any{"tableName": "carts-table"},
	}
	if status != nil {
		obj["status"] = status
	}
	return &unstructured.Unstructured{Object: obj}
}

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestDesiredStatusForNewTable(t *testing.T) {
	status, differs := DesiredStatus(table(nil), "us-west-2", "000000000000", now)
	require.True(t, differs)
	assert.Equal(t, map[string]any{
		"tableStatus": "ACTIVE",
		"ackResourceMetadata": map[string]any{
			"arn":            "arn:aws:dynamodb:us-west-2:000000000000:table/carts-table",
			"ownerAccountID": "000000000000",
			"region":         "us-west-2",
		},
		"conditions": []any{map[string]any{
			"type":               "ACK.ResourceSynced",
			"status":             "True",
			"reason":             "Synced",
			"message":            "rgd dev's ACK stand-in: no AWS here, the table is reported ACTIVE",
			"lastTransitionTime": "2026-01-02T03:04:05Z",
		}},
	}, status)
}

func TestDesiredStatusIsStable(t *testing.T) {
	first, _ := DesiredStatus(table(nil), "us-west-2", "000000000000", now)
	second, differs := DesiredStatus(table(first), "us-west-2", "000000000000", now.Add(time.Hour))
	assert.False(t, differs, "nothing to write once the status is there")
	assert.Equal(t, first, second, "lastTransitionTime kept")
}

func TestDesiredStatusNoticesEachDifference(t *testing.T) {
	good, _ := DesiredStatus(table(nil), "us-west-2", "000000000000", now)
	cases := map[string]func(s map[string]any){
		"tableStatus":      func(s map[string]any) { s["tableStatus"] = "CREATING" },
		"arn":              func(s map[string]any) { s["ackResourceMetadata"].(map[string]any)["arn"] = "x" },
		"region":           func(s map[string]any) { delete(s["ackResourceMetadata"].(map[string]any), "region") },
		"condition false":  func(s map[string]any) { s["conditions"].([]any)[0].(map[string]any)["status"] = "False" },
		"condition absent": func(s map[string]any) { s["conditions"] = []any{} },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			s := table(nil)
			s.Object["status"] = good
			s = s.DeepCopy()
			mutate(s.Object["status"].(map[string]any))
			_, differs := DesiredStatus(s, "us-west-2", "000000000000", now)
			assert.True(t, differs)
		})
	}
}

func TestDesiredStatusKeepsOtherConditionsAndFallsBackToName(t *testing.T) {
	tb := table(map[string]any{"conditions": []any{
		map[string]any{"type": "ACK.ReferencesResolved", "status": "True"},
	}})
	delete(tb.Object, "spec")
	status, differs := DesiredStatus(tb, "eu-west-1", "123456789012", now)
	require.True(t, differs)
	assert.Equal(t, "arn:aws:dynamodb:eu-west-1:123456789012:table/items",
		status["ackResourceMetadata"].(map[string]any)["arn"])
	conds := status["conditions"].([]any)
	require.Len(t, conds, 2)
	assert.Equal(t, "ACK.ReferencesResolved", conds[0].(map[string]any)["type"])
	assert.Equal(t, "ACK.ResourceSynced", conds[1].(map[string]any)["type"])
}
