package cellib

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/stretchr/testify/require"
)

// testCostLimit is generous: tests that hit it do so on purpose.
const testCostLimit = 10_000_000

func newTestEnv(t testing.TB, opts ...Option) *cel.Env {
	t.Helper()
	env, err := cel.NewEnv(
		Library(opts...),
		cel.OptionalTypes(),
		cel.Variable("s", cel.StringType),
		cel.Variable("i", cel.IntType),
		cel.Variable("d", cel.DynType),
		cel.Variable("e", cel.DynType),
		cel.Variable("m", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("mi", cel.MapType(cel.StringType, cel.IntType)),
		cel.Variable("l", cel.ListType(cel.IntType)),
		cel.Variable("obj", cel.DynType),
	)
	require.NoError(t, err)
	return env
}

// compile returns the checked AST or the compile error text ("" when none).
func compile(t testing.TB, env *cel.Env, expr string) (*cel.Ast, string) {
	t.Helper()
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, iss.Err().Error()
	}
	return ast, ""
}

// eval compiles and evaluates expr with cost tracking; it fails the test on a
// compile error.
func eval(t testing.TB, env *cel.Env, expr string, vars map[string]any) (ref.Val, uint64, error) {
	t.Helper()
	ast, cerr := compile(t, env, expr)
	require.Empty(t, cerr, "compile %q", expr)
	prg, err := env.Program(ast, cel.CostLimit(testCostLimit))
	require.NoError(t, err)
	if vars == nil {
		vars = map[string]any{}
	}
	out, det, err := prg.Eval(vars)
	var cost uint64
	if det != nil && det.ActualCost() != nil {
		cost = *det.ActualCost()
	}
	return out, cost, err
}

// mustEval evaluates expr and returns its value as plain Go data (see plain).
func mustEval(t testing.TB, env *cel.Env, expr string, vars map[string]any) any {
	t.Helper()
	out, _, err := eval(t, env, expr, vars)
	require.NoError(t, err, "eval %q", expr)
	return plain(t, out)
}

// evalErr evaluates expr, requires an evaluation error and returns its text.
func evalErr(t testing.TB, env *cel.Env, expr string, vars map[string]any) string {
	t.Helper()
	out, _, err := eval(t, env, expr, vars)
	require.Error(t, err, "eval %q gave %v", expr, out)
	return err.Error()
}

// plain converts a CEL value to map[string]any, []any, int64, uint64, float64,
// string, bool, []byte, nil or Omitted.
func plain(t testing.TB, v ref.Val) any {
	t.Helper()
	switch x := v.(type) {
	case types.Null:
		return nil
	case types.Bool:
		return bool(x)
	case types.Int:
		return int64(x)
	case types.Uint:
		return uint64(x)
	case types.Double:
		return float64(x)
	case types.String:
		return string(x)
	case types.Bytes:
		return []byte(x)
	case Omitted:
		return x
	case traits.Lister:
		out := []any{}
		for it := x.Iterator(); it.HasNext() == types.True; {
			out = append(out, plain(t, it.Next()))
		}
		return out
	case traits.Mapper:
		out := map[string]any{}
		for it := x.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			out[fmt.Sprint(k.Value())] = plain(t, x.Get(k))
		}
		return out
	}
	t.Fatalf("plain: unexpected value %v of type %T", v, v)
	return nil
}

func sha256Bytes(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}
