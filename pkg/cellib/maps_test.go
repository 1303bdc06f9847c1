package cellib

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMerge(t *testing.T) {
	env := newTestEnv(t)
	vars := map[string]any{
		"m":  map[string]string{"a": "1", "b": "2"},
		"mi": map[string]int64{"x": 1},
	}
	tests := []struct {
		name, expr string
		want       any
	}{
		{"right wins", `m.merge({'b': 'B', 'c': 'C'})`, map[string]any{"a": "1", "b": "B", "c": "C"}},
		{"empty right", `m.merge({})`, map[string]any{"a": "1", "b": "2"}},
		{"empty left", `{}.merge(m)`, map[string]any{"a": "1", "b": "2"}},
		{"both empty", `{}.merge({})`, map[string]any{}},
		{"shallow", `{'a': {'x': 1, 'y': 2}}.merge({'a': {'x': 3}})`, map[string]any{"a": map[string]any{"x": int64(3)}}},
		{"unicode keys", `{'ключ': 'a'}.merge({'日本': 'b'})`, map[string]any{"ключ": "a", "日本": "b"}},
		{"chained", `m.merge({'a': 'x'}).merge({'a': 'y'})`, map[string]any{"a": "y", "b": "2"}},
		{"receiver unchanged", `[m.merge({'a': 'z'}), m]`, []any{map[string]any{"a": "z", "b": "2"}, map[string]any{"a": "1", "b": "2"}}},
		{"int keys", `{1: 'a'}.merge({2: 'b'})`, map[string]any{"1": "a", "2": "b"}},
		{"dyn maps", `dyn({'a': 1}).merge({'b': 'x'})`, map[string]any{"a": int64(1), "b": "x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, mustEval(t, env, tc.expr, vars))
		})
	}
}

func TestMergeTyping(t *testing.T) {
	env := newTestEnv(t)
	for expr, want := range map[string]string{
		`m.merge({'k': 'v'})`:  "map(string, string)",
		`mi.merge({'k': 1})`:   "map(string, int)",
		`m.merge(d)`:           "map(string, string)",
		`d.merge({'a': 1})`:    "map(string, int)",
		`m.merge(dyn(mi))`:     "map(string, string)",
		`dyn(m).merge(dyn(m))`: "map(dyn, dyn)",
	} {
		ast, err := compile(t, env, expr)
		require.Empty(t, err, expr)
		assert.Equal(t, want, ast.OutputType().String(), expr)
	}
	for _, expr := range []string{`m.merge(mi)`, `{'a': 1}.merge({'b': 'x'})`, `m.merge([1])`, `'a'.merge({})`, `m.merge()`} {
		_, err := compile(t, env, expr)
		assert.Contains(t, err, "found no matching overload for 'merge'", expr)
	}
	// A dyn receiver that is not a map fails at evaluation.
	assert.Contains(t, evalErr(t, env, `d.merge({'a': 'b'})`, map[string]any{"d": 1}), "no such overload")
}

func TestDeepMerge(t *testing.T) {
	env := newTestEnv(t)
	tests := []struct {
		name, expr string
		want       any
	}{
		{"nested maps merged", `{'a': {'x': 1, 'y': {'p': 1}}}.deepMerge({'a': {'y': {'q': 2}, 'z': 3}})`,
			map[string]any{"a": map[string]any{"x": int64(1), "y": map[string]any{"p": int64(1), "q": int64(2)}, "z": int64(3)}}},
		{"lists replaced", `{'l': [1, 2, 3]}.deepMerge({'l': [4]})`, map[string]any{"l": []any{int64(4)}}},
		{"scalar replaced", `{'a': 1, 'b': 2}.deepMerge({'a': 'x'})`, map[string]any{"a": "x", "b": int64(2)}},
		{"map replaced by scalar", `{'a': {'x': 1}}.deepMerge({'a': 5})`, map[string]any{"a": int64(5)}},
		{"scalar replaced by map", `{'a': 5}.deepMerge({'a': {'x': 1}})`, map[string]any{"a": map[string]any{"x": int64(1)}}},
		{"null replaces", `{'a': {'x': 1}}.deepMerge({'a': null})`, map[string]any{"a": nil}},
		{"empty right", `{'a': {'x': 1}}.deepMerge({})`, map[string]any{"a": map[string]any{"x": int64(1)}}},
		{"empty left", `{}.deepMerge({'a': {'x': 1}})`, map[string]any{"a": map[string]any{"x": int64(1)}}},
		{"non-map receiver gives argument", `[1].deepMerge({'a': 1})`, map[string]any{"a": int64(1)}},
		{"non-map argument wins", `{'a': 1}.deepMerge('x')`, "x"},
		{"scalars", `1.deepMerge(2)`, int64(2)},
		{"variables", `d.deepMerge(e)`, map[string]any{"spec": map[string]any{"replicas": int64(3), "image": "nginx:2", "ports": []any{int64(443)}}}},
	}
	vars := map[string]any{
		"d": map[string]any{"spec": map[string]any{"replicas": 1, "image": "nginx:1", "ports": []any{80}}},
		"e": map[string]any{"spec": map[string]any{"replicas": 3, "image": "nginx:2", "ports": []any{443}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, mustEval(t, env, tc.expr, vars))
		})
	}
}

func TestMapsCost(t *testing.T) {
	env := newTestEnv(t)
	_, cost, err := eval(t, env, `{'a': 1, 'b': 2}.merge({'c': 3})`, nil)
	require.NoError(t, err)
	// Two map literals (30 each) + the call (1 + 2 + 1 entries).
	assert.Equal(t, uint64(30+30+4), cost)

	vars := map[string]any{"d": map[string]any{"a": map[string]any{"b": []any{1, 2}}}, "e": map[string]any{}}
	_, cost, err = eval(t, env, `d.deepMerge(e)`, vars)
	require.NoError(t, err)
	// Two variable reads + 1 + nodes of d (map, map, list, 2 ints = 5) + nodes of e (1).
	assert.Equal(t, uint64(2+1+5+1), cost)
}
