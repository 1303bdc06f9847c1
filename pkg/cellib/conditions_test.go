package cellib

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewCondition(t *testing.T) {
	env := newTestEnv(t)
	tests := []struct {
		name, expr string
		want       map[string]any
	}{
		{"all keys", `runtime.newCondition({type: 'Ready', status: 'True', reason: 'AllGood', message: 'ok'})`,
			map[string]any{"type": "Ready", "status": "True", "reason": "AllGood", "message": "ok"}},
		{"defaults", `runtime.newCondition({status: 'False', type: 'Ready'})`,
			map[string]any{"type": "Ready", "status": "False", "reason": "", "message": ""}},
		{"unknown status", `runtime.newCondition({type: 'X', status: 'Unknown'})`,
			map[string]any{"type": "X", "status": "Unknown", "reason": "", "message": ""}},
		{"computed values", `runtime.newCondition({type: 'Has' + s, status: i > 0 ? 'True' : 'False', message: 'n=' + string(i)})`,
			map[string]any{"type": "HasDB", "status": "True", "reason": "", "message": "n=3"}},
		{"unicode message", `runtime.newCondition({type: 'X', status: 'True', message: 'готово ✓'})`,
			map[string]any{"type": "X", "status": "True", "reason": "", "message": "готово ✓"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, mustEval(t, env, tc.expr, map[string]any{"s": "DB", "i": 3}))
		})
	}
	ast, err := compile(t, env, `runtime.newCondition({type: 'X', status: 'True'})`)
	require.Empty(t, err)
	assert.Equal(t, ConditionType.String(), ast.OutputType().String())
	ast, err = compile(t, env, `runtime.newCondition({type: 'X', status: 'True'}).status`)
	require.Empty(t, err)
	assert.Equal(t, "string", ast.OutputType().String())
}

func TestNewConditionCompileErrors(t *testing.T) {
	env := newTestEnv(t)
	tests := []struct{ name, expr string }{
		{"missing type", `runtime.newCondition({status: 'True'})`},
		{"missing status", `runtime.newCondition({type: 'X'})`},
		{"missing both", `runtime.newCondition({})`},
		{"unknown key", `runtime.newCondition({type: 'X', status: 'True', severity: 'high'})`},
		{"quoted key", `runtime.newCondition({'type': 'X', status: 'True'})`},
		{"variable as key", `runtime.newCondition({s: 'X', type: 'X', status: 'True'})`},
		{"computed key", `runtime.newCondition({'ty' + 'pe': 'X', status: 'True'})`},
		{"optional entry", `runtime.newCondition({type: 'X', ?status: optional.of('True')})`},
		{"duplicate key", `runtime.newCondition({type: 'X', type: 'Y', status: 'True'})`},
		{"bad literal status", `runtime.newCondition({type: 'X', status: 'true'})`},
		{"empty literal type", `runtime.newCondition({type: '', status: 'True'})`},
		{"non-string literal", `runtime.newCondition({type: 'X', status: true})`},
		{"not a map literal", `runtime.newCondition(m)`},
		{"several problems", `runtime.newCondition({type: '', 'status': 'True', foo: 1})`},
		{"computed non-string value", `runtime.newCondition({type: 'X', status: 'True', message: i})`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compile(t, env, tc.expr)
			require.NotEmpty(t, err)
			assertGolden(t, "conditions/"+tc.name, err)
		})
	}
}

func TestNewConditionOtherReceivers(t *testing.T) {
	env := newTestEnv(t)
	// x.newCondition(...) on anything but `runtime` is not the macro: it is an
	// unknown function, not a key error.
	_, err := compile(t, env, `d.newCondition({type: 'X'})`)
	assert.Contains(t, err, "undeclared reference to 'newCondition'")
	assert.NotContains(t, err, "runtime.newCondition")
}

func TestNewConditionRuntimeValidation(t *testing.T) {
	env := newTestEnv(t)
	assert.Equal(t, `runtime.newCondition: status must be one of True, False, Unknown, got "yes"`,
		evalErr(t, env, `runtime.newCondition({type: 'X', status: s})`, map[string]any{"s": "yes"}))
	assert.Equal(t, "runtime.newCondition: type must not be empty",
		evalErr(t, env, `runtime.newCondition({type: s, status: 'True'})`, map[string]any{"s": ""}))
	// Computed values typed dyn are checked by overload dispatch.
	assert.Equal(t, "no such overload: runtime.newCondition(string, int, string, string)",
		evalErr(t, env, `runtime.newCondition({type: 'X', status: d})`, map[string]any{"d": 1}))
}

func TestCondition(t *testing.T) {
	env := newTestEnv(t)
	pod := map[string]any{"status": map[string]any{"conditions": []any{
		map[string]any{"type": "Initialized", "status": "True"},
		map[string]any{"type": "Ready", "status": "False", "reason": "Crash", "message": "back-off", "lastTransitionTime": "2024-01-01T00:00:00Z", "observedGeneration": 2},
		"not-a-map",
		map[string]any{"type": "Odd", "status": 1},
	}}}
	unknown := func(typ string) map[string]any {
		return map[string]any{"type": typ, "status": "Unknown", "reason": "", "message": ""}
	}
	tests := []struct {
		name string
		obj  any
		typ  string
		want map[string]any
	}{
		{"found", pod, "Ready", map[string]any{"type": "Ready", "status": "False", "reason": "Crash", "message": "back-off"}},
		{"found without reason", pod, "Initialized", map[string]any{"type": "Initialized", "status": "True", "reason": "", "message": ""}},
		{"non-string fields read as empty", pod, "Odd", map[string]any{"type": "Odd", "status": "", "reason": "", "message": ""}},
		{"absent type", pod, "Available", unknown("Available")},
		{"empty type", pod, "", unknown("")},
		{"no status", map[string]any{"spec": map[string]any{}}, "Ready", unknown("Ready")},
		{"null status", map[string]any{"status": nil}, "Ready", unknown("Ready")},
		{"no conditions", map[string]any{"status": map[string]any{}}, "Ready", unknown("Ready")},
		{"empty conditions", map[string]any{"status": map[string]any{"conditions": []any{}}}, "Ready", unknown("Ready")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mustEval(t, env, `runtime.condition(obj, s)`, map[string]any{"obj": tc.obj, "s": tc.typ})
			assert.Equal(t, tc.want, got)
		})
	}
	assert.Equal(t, false, mustEval(t, env, `runtime.condition(obj, 'Ready').status == 'True'`, map[string]any{"obj": pod}))
	ast, err := compile(t, env, `runtime.condition(obj, 'Ready')`)
	require.Empty(t, err)
	assert.Equal(t, ConditionType.String(), ast.OutputType().String())
}

func TestConditionErrors(t *testing.T) {
	env := newTestEnv(t)
	tests := []struct {
		name string
		obj  any
		want string
	}{
		{"object not a map", "x", "runtime.condition: the object must be a map or object, got string"},
		{"status not a map", map[string]any{"status": "x"}, "runtime.condition: status must be a map or object, got string"},
		{"conditions not a list", map[string]any{"status": map[string]any{"conditions": 1}}, "runtime.condition: status.conditions must be a list, got int"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, evalErr(t, env, `runtime.condition(obj, 'Ready')`, map[string]any{"obj": tc.obj}))
		})
	}
	_, err := compile(t, env, `runtime.condition(obj, 1)`)
	assert.Contains(t, err, "found no matching overload for 'runtime.condition'")
}

func TestConditionCost(t *testing.T) {
	env := newTestEnv(t)
	ast, cerr := compile(t, env, `runtime.condition(obj, 'Ready')`)
	require.Empty(t, cerr)
	est, err := env.EstimateCost(ast, unknownSizes{})
	require.NoError(t, err)
	assert.Equal(t, uint64(1+1+100), est.Max)

	obj := map[string]any{"status": map[string]any{"conditions": []any{map[string]any{"type": "A"}, map[string]any{"type": "B"}}}}
	_, cost, err := eval(t, env, `runtime.condition(obj, 'B')`, map[string]any{"obj": obj})
	require.NoError(t, err)
	assert.Equal(t, uint64(1+1+2), cost)
}
