package celenv

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// rangeSchema is an instance spec with bounded and unbounded lists,
// strings and integers, as SimpleSchema writes them.
func rangeSchema() *spec.Schema {
	integer := func(minimum, maximum *float64) spec.Schema {
		s := *spec.Int64Property()
		s.Minimum, s.Maximum = minimum, maximum
		return s
	}
	f := func(v float64) *float64 { return &v }
	str := *spec.StringProperty()
	short := *spec.StringProperty()
	short.MaxLength = ptr(int64(8))
	workers := *spec.ArrayProperty(spec.StringProperty())
	workers.MaxItems = ptr(int64(50))
	pool := spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Properties: map[string]spec.Schema{
		"name": str, "replicas": integer(nil, f(5)), "weight": integer(nil, nil),
	}}}
	pools := *spec.ArrayProperty(&pool)
	pools.MaxItems = ptr(int64(10))
	spc := spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Properties: map[string]spec.Schema{
		"workers":   workers,
		"anyList":   *spec.ArrayProperty(spec.StringProperty()),
		"name":      short,
		"count":     integer(f(1), f(20)),
		"anyCount":  integer(nil, nil),
		"negative":  integer(nil, f(-3)),
		"huge":      integer(nil, f(1e12)),
		"pools":     pools,
		"byName":    *spec.MapProperty(ptr(integer(nil, f(7)))),
		"fraction":  {SchemaProps: spec.SchemaProps{Type: []string{"number"}, Maximum: f(4)}},
		"reference": str,
	}}}
	return &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Properties: map[string]spec.Schema{"spec": spc}}}
}

func rangeEnv(t *testing.T) *Env {
	t.Helper()
	env, err := NewEnv([]Variable{SchemaVariable("schema", rangeSchema()), DynVariable("anything")})
	require.NoError(t, err)
	return env
}

func compileCost(t *testing.T, env *Env, expr string) uint64 {
	t.Helper()
	c, err := env.Compile(expr)
	require.NoError(t, err, expr)
	return c.EstimatedCost.Max
}

// TestRangeCostBound checks how many elements the estimate of lists.range(n)
// assumes: what the schema says of n (maxItems under size(), maximum of an
// integer, maxLength of a string), a literal's value, and MaxRangeSize,
// which lists.range enforces, where nothing is known. The cost of the call
// is that bound plus 11 (the call and the list's creation), on top of the
// cost of computing n.
func TestRangeCostBound(t *testing.T) {
	env := rangeEnv(t)
	for _, tc := range []struct {
		n    string
		want uint64
	}{
		{"5", 5},
		{"0", 0},
		{"-2", 0},
		{"size(schema.spec.workers)", 50},   // maxItems
		{"schema.spec.workers.size()", 50},  // the member form
		{"size(schema.spec.anyList)", 1000}, // no maxItems: the bound assumed for lists (UnboundedListItems)
		{"size(schema.spec.name)", 32},      // maxLength 8, in bytes (4 a character) as the API server estimates
		{"size([1, 2, 3])", 3},              // a literal list
		{"size(schema.spec.workers.filter(w, w != ''))", 50},
		{"schema.spec.count", 20},                   // maximum
		{"schema.spec.byName.web", 7},               // maximum of a map's values
		{"schema.spec.byName['web']", MaxRangeSize}, // an index is not a field of the schema
		{"schema.spec.negative", 0},                 // a maximum below zero: lists.range fails or returns nothing
		{"schema.spec.huge", MaxRangeSize},          // lists.range refuses more than MaxRangeSize
		{"schema.spec.anyCount", MaxRangeSize},      // no maximum
		{"schema.spec.count + 1", MaxRangeSize},     // arithmetic is not followed
		{"int(schema.spec.fraction)", MaxRangeSize},
		{"anything.n", MaxRangeSize}, // dyn
	} {
		t.Run(tc.n, func(t *testing.T) {
			got := compileCost(t, env, fmt.Sprintf("lists.range(%s)", tc.n)) - compileCost(t, env, tc.n)
			assert.Equal(t, tc.want+11, got)
		})
	}
}

// TestRangeCostInComprehensions checks that an iterated element's bounds
// reach lists.range, and that kro's documented forms compile within the
// static limit when the schema bounds them.
func TestRangeCostInComprehensions(t *testing.T) {
	env := rangeEnv(t)
	// 10 pools of at most 5 replicas each; a weight has no maximum.
	assert.Less(t, compileCost(t, env, "schema.spec.pools.map(p, lists.range(p.replicas))"), uint64(1_000))
	assert.Greater(t, compileCost(t, env, "schema.spec.pools.map(p, lists.range(p.weight))"), uint64(10*MaxRangeSize))
	for _, expr := range []string{
		"lists.range(size(schema.spec.workers)).map(i, schema.spec.workers[i] + '-' + string(i))",
		"lists.range(schema.spec.count).map(i, 'replica-' + string(i))",
		"lists.range(schema.spec.count).map(i, lists.range(schema.spec.count).map(j, string(i) + '/' + string(j)))",
	} {
		c, err := env.Compile(expr)
		require.NoError(t, err, expr)
		assert.NoError(t, c.CostError(), expr)
	}
	// Without a maximum, a nested range is only bounded by MaxRangeSize.
	c, err := env.Compile("lists.range(schema.spec.anyCount).map(i, lists.range(schema.spec.anyCount).map(j, i + j))")
	require.NoError(t, err)
	require.ErrorIs(t, c.CostError(), ErrCostTooHigh)
}

// TestSizeCostUnchanged checks that size() still costs 1 whatever it
// measures (rgd's estimate only adds the range of its result).
func TestSizeCostUnchanged(t *testing.T) {
	env := rangeEnv(t)
	for _, tc := range []struct{ expr, arg string }{
		{"size(schema.spec.anyList)", "schema.spec.anyList"},
		{"schema.spec.workers.size()", "schema.spec.workers"},
		{"size(schema.spec.name)", "schema.spec.name"},
		{"size(schema.spec.byName)", "schema.spec.byName"},
	} {
		assert.Equal(t, compileCost(t, env, tc.arg)+1, compileCost(t, env, tc.expr), tc.expr)
	}
}

// TestCostErrorAndEvalError checks the two ends of the cost model: an
// estimate above MaxEstimatedCost compiles and is reported by CostError;
// an evaluation stopped at PerCallCostLimit says so, with the limit.
func TestCostErrorAndEvalError(t *testing.T) {
	env := rangeEnv(t)
	c, err := env.Compile("schema.spec.anyList.map(a, schema.spec.anyList.map(b, schema.spec.anyList.map(c, a + b + c)))")
	require.NoError(t, err, "a costly estimate is no compile error")
	cerr := c.CostError()
	require.ErrorIs(t, cerr, ErrCostTooHigh)
	assert.Regexp(t, `^estimated CEL cost exceeds the limit: the estimated worst-case cost is \d+, the limit is 10000000 \(bound`, cerr.Error())
	assert.Contains(t, cerr.Error(), "lists.range with maximum")

	cheap, err := env.Compile("size(schema.spec.workers)")
	require.NoError(t, err)
	assert.NoError(t, cheap.CostError())
	assert.NoError(t, (*Compiled)(nil).CostError())

	list := make([]any, 200)
	for i := range list {
		list[i] = "x"
	}
	_, err = env.Eval(c, map[string]any{"schema": map[string]any{"spec": map[string]any{"anyList": list}}})
	require.ErrorIs(t, err, ErrCostLimitExceeded)
	assert.Contains(t, err.Error(), "per-evaluation limit of 1000000")

	other := errors.New("no such key")
	assert.Same(t, other, EvalError(other), "other errors pass unchanged")
	assert.NoError(t, EvalError(nil))
}
