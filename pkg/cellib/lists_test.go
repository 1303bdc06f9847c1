package cellib

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestListsIndex(t *testing.T) {
	env := newTestEnv(t)
	vars := map[string]any{"l": []int64{1, 2, 3}}
	tests := []struct {
		name, expr string
		want       any
	}{
		{"set first", `lists.setAtIndex(l, 0, 9)`, []any{int64(9), int64(2), int64(3)}},
		{"set last", `lists.setAtIndex(l, 2, 9)`, []any{int64(1), int64(2), int64(9)}},
		{"insert first", `lists.insertAtIndex(l, 0, 9)`, []any{int64(9), int64(1), int64(2), int64(3)}},
		{"insert middle", `lists.insertAtIndex(l, 1, 9)`, []any{int64(1), int64(9), int64(2), int64(3)}},
		{"insert at size appends", `lists.insertAtIndex(l, 3, 9)`, []any{int64(1), int64(2), int64(3), int64(9)}},
		{"insert into empty", `lists.insertAtIndex([], 0, 'a')`, []any{"a"}},
		{"remove first", `lists.removeAtIndex(l, 0)`, []any{int64(2), int64(3)}},
		{"remove last", `lists.removeAtIndex(l, 2)`, []any{int64(1), int64(2)}},
		{"remove only", `lists.removeAtIndex(['x'], 0)`, []any{}},
		{"input unchanged", `[lists.setAtIndex(l, 0, 9), l]`, []any{[]any{int64(9), int64(2), int64(3)}, []any{int64(1), int64(2), int64(3)}}},
		{"maps as elements", `lists.setAtIndex([{'a': 1}], 0, {'b': 2})`, []any{map[string]any{"b": int64(2)}}},
		{"unicode", `lists.insertAtIndex(['日本'], 1, 'ключ')`, []any{"日本", "ключ"}},
		{"dyn list", `lists.setAtIndex([1, 'a'], 1, true)`, []any{int64(1), true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, mustEval(t, env, tc.expr, vars))
		})
	}
}

func TestListsIndexOutOfRange(t *testing.T) {
	env := newTestEnv(t)
	vars := map[string]any{"l": []int64{1, 2, 3}}
	tests := []struct{ expr, want string }{
		{`lists.setAtIndex(l, -1, 0)`, "lists.setAtIndex: index -1 out of range for list of size 3 (valid: 0..2)"},
		{`lists.setAtIndex(l, 3, 0)`, "lists.setAtIndex: index 3 out of range for list of size 3 (valid: 0..2)"},
		{`lists.setAtIndex(l, 4, 0)`, "lists.setAtIndex: index 4 out of range for list of size 3 (valid: 0..2)"},
		{`lists.setAtIndex([], 0, 0)`, "lists.setAtIndex: index 0 out of range for list of size 0 (valid: none, the list is empty)"},
		{`lists.insertAtIndex(l, -1, 0)`, "lists.insertAtIndex: index -1 out of range for list of size 3 (valid: 0..3)"},
		{`lists.insertAtIndex(l, 4, 0)`, "lists.insertAtIndex: index 4 out of range for list of size 3 (valid: 0..3)"},
		{`lists.insertAtIndex([], 1, 0)`, "lists.insertAtIndex: index 1 out of range for list of size 0 (valid: 0..0)"},
		{`lists.removeAtIndex(l, -1)`, "lists.removeAtIndex: index -1 out of range for list of size 3 (valid: 0..2)"},
		{`lists.removeAtIndex(l, 3)`, "lists.removeAtIndex: index 3 out of range for list of size 3 (valid: 0..2)"},
		{`lists.removeAtIndex([], 0)`, "lists.removeAtIndex: index 0 out of range for list of size 0 (valid: none, the list is empty)"},
		{`lists.removeAtIndex(l, 9223372036854775807)`, "index 9223372036854775807 out of range for list of size 3"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			assert.Contains(t, evalErr(t, env, tc.expr, vars), tc.want)
		})
	}
}

func TestListsIndexTyping(t *testing.T) {
	env := newTestEnv(t)
	ast, err := compile(t, env, `lists.insertAtIndex(l, 0, 1)`)
	require.Empty(t, err)
	assert.Equal(t, "list(int)", ast.OutputType().String())
	for _, expr := range []string{
		`lists.setAtIndex(l, 0, 'a')`, `lists.insertAtIndex(l, 0, 1.5)`, `lists.setAtIndex(l, 'a', 1)`,
		`lists.removeAtIndex(l, 1u)`, `lists.removeAtIndex({'a': 1}, 0)`, `lists.setAtIndex(l, 0)`,
	} {
		_, err := compile(t, env, expr)
		assert.Contains(t, err, "found no matching overload", expr)
	}
}

func TestListsIndexCost(t *testing.T) {
	env := newTestEnv(t)
	_, cost, err := eval(t, env, `lists.setAtIndex(l, 0, 9)`, map[string]any{"l": make([]int64, 50)})
	require.NoError(t, err)
	assert.Equal(t, uint64(1+1+50), cost) // variable read + 1 + copy of 50
}
