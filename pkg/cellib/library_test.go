package cellib

import (
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/cel/library"
)

// TestLibraryWithKroEnvironment installs Library next to every library kro's
// environment has, to catch name or overload clashes.
func TestLibraryWithKroEnvironment(t *testing.T) {
	env, err := cel.NewEnv(
		ext.TwoVarComprehensions(), ext.Lists(), ext.Strings(), ext.Bindings(), ext.Encoders(),
		cel.OptionalTypes(),
		library.Lists(), library.URLs(), library.Regex(), library.Quantity(), library.IP(), library.CIDR(), library.SemverLib(),
		Library(),
		// Installing again is a no-op (singleton libraries).
		Library(),
		cel.Variable("runtime", cel.DynType),
		cel.Variable("schema", cel.DynType),
	)
	require.NoError(t, err)
	exprs := map[string]any{
		`base64.encode(hash.sha256('a')) != ''`:                                  true,
		`lists.range(3).size()`:                                                  int64(3),
		`lists.setAtIndex(lists.range(3), 0, 7)`:                                 []any{int64(7), int64(1), int64(2)},
		`[3, 1].sort()`:                                                          []any{int64(1), int64(3)},
		`json.marshal(json.unmarshal('{"b": 1, "a": 2}'))`:                       `{"a":2,"b":1}`,
		`random.seededString(8, schema.metadata.uid).size()`:                     int64(8),
		`runtime.newCondition({type: 'A', status: 'True'}).status`:               "True",
		`runtime.condition(schema, 'Ready').status`:                              "Unknown",
		`{'a': 1}.merge({'b': 2}).size()`:                                        int64(2),
		`cel.bind(x, {'a': {'b': 1}}, x.deepMerge({'a': {'c': 2}})).a.size()`:    int64(2),
		`'${x}'.replace('$', '')`:                                                "{x}",
		`isQuantity('1Gi') && url('https://a/b').getHost() == 'a'`:               true,
		`{'a': 1}.transformMapEntry(k, v, {k + 'x': v}).merge({'bx': 2}).size()`: int64(2),
	}
	vars := map[string]any{"runtime": nil, "schema": map[string]any{"metadata": map[string]any{"uid": "u-1"}}}
	for expr, want := range exprs {
		assert.Equal(t, want, mustEval(t, env, expr, vars), expr)
	}
}

func TestLibraryCostLimitStopsLargeWork(t *testing.T) {
	env := newTestEnv(t)
	ast, cerr := compile(t, env, `l.map(n, random.seededString(4096, string(n))).size()`)
	require.Empty(t, cerr)
	vars := map[string]any{"l": make([]int64, 200)}

	// Each call is charged about 412 (1 + seed + 0.1 per generated character).
	prg, err := env.Program(ast, cel.CostLimit(50_000))
	require.NoError(t, err)
	_, _, err = prg.Eval(vars)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cost limit exceeded")

	prg, err = env.Program(ast, cel.CostLimit(100_000))
	require.NoError(t, err)
	out, det, err := prg.Eval(vars)
	require.NoError(t, err)
	assert.EqualValues(t, 200, out.Value())
	assert.Greater(t, *det.ActualCost(), uint64(200*410))
}
