package cellib

import (
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/stretchr/testify/require"
)

func fuzzProgram(t testing.TB, env *cel.Env, expr string) cel.Program {
	ast, iss := env.Compile(expr)
	require.NoError(t, iss.Err())
	prg, err := env.Program(ast, cel.CostLimit(testCostLimit))
	require.NoError(t, err)
	return prg
}

// FuzzJSONRoundTrip checks that json.unmarshal never panics, and that whatever it
// accepts json.marshal writes back as text that parses to an equal value and
// marshals to the same text again. The seed corpus is in testdata/fuzz.
func FuzzJSONRoundTrip(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,2.5,"x",null,true]`, `"\u00e9\n"`, `1e21`, `-0`, `{"b":{"a":[]}}`, ``, `{`} {
		f.Add(s)
	}
	env := newTestEnv(f)
	unmarshal := fuzzProgram(f, env, "json.unmarshal(s)")
	marshal := fuzzProgram(f, env, "json.marshal(d)")
	f.Fuzz(func(t *testing.T, in string) {
		v, _, err := unmarshal.Eval(map[string]any{"s": in})
		if err != nil {
			require.True(t, strings.HasPrefix(err.Error(), "json.unmarshal: "), err.Error())
			return
		}
		out, _, err := marshal.Eval(map[string]any{"d": v})
		require.NoError(t, err, "marshal of accepted input %q", in)
		v2, _, err := unmarshal.Eval(map[string]any{"s": out})
		require.NoError(t, err, "re-parse of %q", out)
		require.Equal(t, types.True, v.Equal(v2), "round trip of %q via %q", in, out)
		out2, _, err := marshal.Eval(map[string]any{"d": v2})
		require.NoError(t, err)
		require.Equal(t, out, out2, "marshal is stable")
	})
}

// FuzzSeededString checks that random.seededString never panics, accepts exactly
// the lengths 1..MaxSeededStringLength and returns that many characters of
// [0-9a-z], agreeing with kro on the first 8.
func FuzzSeededString(f *testing.F) {
	f.Add(int64(10), "uid")
	f.Add(int64(0), "")
	f.Add(int64(-1), "x")
	f.Add(int64(4096), "日本")
	f.Add(int64(4097), "a")
	env := newTestEnv(f)
	prg := fuzzProgram(f, env, "random.seededString(i, s)")
	f.Fuzz(func(t *testing.T, n int64, seed string) {
		out, _, err := prg.Eval(map[string]any{"i": n, "s": seed})
		if n < 1 || n > MaxSeededStringLength {
			require.Error(t, err)
			require.Contains(t, err.Error(), "random.seededString: length must be between 1 and 4096")
			return
		}
		require.NoError(t, err)
		s := string(out.(types.String))
		require.Len(t, s, int(n))
		require.Empty(t, strings.Trim(s, seededAlphabet))
		compat, err := SeededString(n, seed, true)
		require.NoError(t, err)
		k := min(int(n), 8)
		require.Equal(t, compat[:k], s[:k])
	})
}
