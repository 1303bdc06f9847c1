package cellib

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apiserver/pkg/cel/common"
	"k8s.io/apiserver/pkg/cel/openapi"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// TestSchemaTypedValues feeds the functions the values rgd gives CEL at run time:
// unstructured objects wrapped by the apiserver's schema-aware adapter.
func TestSchemaTypedValues(t *testing.T) {
	str := *spec.StringProperty()
	labels := spec.MapProperty(&str)
	condition := spec.Schema{}
	condition.Type = spec.StringOrArray{"object"}
	condition.Properties = map[string]spec.Schema{"type": str, "status": str, "reason": str, "message": str}
	obj := spec.Schema{}
	obj.Type = spec.StringOrArray{"object"}
	obj.Properties = map[string]spec.Schema{
		"metadata": {SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}, Properties: map[string]spec.Schema{"labels": *labels}}},
		"status": {SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}, Properties: map[string]spec.Schema{
			"conditions": *spec.ArrayProperty(&condition),
		}}},
	}
	u := map[string]any{
		"metadata": map[string]any{"labels": map[string]any{"app": "web", "tier": "front"}},
		"status":   map[string]any{"conditions": []any{map[string]any{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}}},
	}
	val := common.UnstructuredToVal(u, &openapi.Schema{Schema: &obj})
	env := newTestEnv(t)
	vars := map[string]any{"obj": val}

	assert.Equal(t, map[string]any{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": ""},
		mustEval(t, env, `runtime.condition(obj, 'Available')`, vars))
	assert.Equal(t, "Unknown", mustEval(t, env, `runtime.condition(obj, 'Progressing').status`, vars))
	assert.Equal(t, map[string]any{"app": "api", "tier": "front", "x": "y"},
		mustEval(t, env, `obj.metadata.labels.deepMerge({'app': 'api', 'x': 'y'})`, vars))
	assert.Equal(t, `{"app":"web","tier":"front"}`, mustEval(t, env, `json.marshal(obj.metadata.labels)`, vars))
	assert.Equal(t,
		`{"metadata":{"labels":{"app":"web","tier":"front"}},"status":{"conditions":[{"reason":"MinimumReplicasAvailable","status":"True","type":"Available"}]}}`,
		mustEval(t, env, `json.marshal(obj)`, vars))
	assert.Equal(t, map[string]any{"app": "web", "tier": "front", "z": "1"},
		mustEval(t, env, `obj.metadata.labels.merge({'z': '1'})`, vars))
}
