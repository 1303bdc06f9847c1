package cellib

import (
	"strings"
	"testing"

	"github.com/google/cel-go/checker"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestJSONUnmarshal(t *testing.T) {
	env := newTestEnv(t)
	tests := []struct {
		name, in string
		want     any
	}{
		{"object", `{"a": 1, "b": "x"}`, map[string]any{"a": int64(1), "b": "x"}},
		{"nested", `{"a": {"b": [1, 2.5, true, null]}}`, map[string]any{"a": map[string]any{"b": []any{int64(1), 2.5, true, nil}}}},
		{"empty object", `{}`, map[string]any{}},
		{"empty array", `[]`, []any{}},
		{"int", `42`, int64(42)},
		{"negative int", `-7`, int64(-7)},
		{"fraction is double", `1.0`, 1.0},
		{"exponent is double", `1e3`, 1000.0},
		{"int64 max", `9223372036854775807`, int64(9223372036854775807)},
		{"beyond int64 is double", `9223372036854775808`, 9223372036854775808.0},
		{"string", `"hi"`, "hi"},
		{"unicode", `"h\u00e9llo ✓ 日本"`, "héllo ✓ 日本"},
		{"escapes", `"a\"b\\c\n"`, "a\"b\\c\n"},
		{"null", `null`, nil},
		{"bool", `false`, false},
		{"surrounding whitespace", " \n{\"a\":1}\t ", map[string]any{"a": int64(1)}},
		{"duplicate key last wins", `{"a":1,"a":2}`, map[string]any{"a": int64(2)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mustEval(t, env, "json.unmarshal(s)", map[string]any{"s": tc.in})
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestJSONUnmarshalFieldAccess(t *testing.T) {
	env := newTestEnv(t)
	assert.Equal(t, int64(3), mustEval(t, env, `json.unmarshal('{"a": {"b": 3}}').a.b`, nil))
	assert.Equal(t, true, mustEval(t, env, `json.unmarshal('[1, 2]')[1] == 2`, nil))
	assert.Equal(t, "x", mustEval(t, env, `json.unmarshal('{"a": "x"}').?b.orValue('x')`, nil))
}

func TestJSONUnmarshalErrors(t *testing.T) {
	env := newTestEnv(t, MaxJSONBytes(64))
	tests := []struct{ name, in, want string }{
		{"empty", ``, "json.unmarshal: invalid JSON: empty input"},
		{"whitespace only", `   `, "json.unmarshal: invalid JSON: empty input"},
		{"truncated", `{"a": `, "json.unmarshal: invalid JSON"},
		{"bad token", `{a: 1}`, "json.unmarshal: invalid JSON: invalid character 'a'"},
		{"trailing data", `{} {}`, "unexpected data after the value"},
		{"trailing garbage", `1 x`, "invalid JSON"},
		{"too large", strings.Repeat(" ", 65), "input is 65 bytes, more than the limit of 64 bytes"},
		{"huge number", `1e400`, "number 1e400 is out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Contains(t, evalErr(t, env, "json.unmarshal(s)", map[string]any{"s": tc.in}), tc.want)
		})
	}
}

func TestJSONUnmarshalDepth(t *testing.T) {
	env := newTestEnv(t)
	ok := strings.Repeat("[", MaxJSONDepth) + strings.Repeat("]", MaxJSONDepth)
	_, _, err := eval(t, env, "json.unmarshal(s)", map[string]any{"s": ok})
	require.NoError(t, err)
	deep := "[" + ok + "]"
	assert.Contains(t, evalErr(t, env, "json.unmarshal(s)", map[string]any{"s": deep}), "nesting deeper than 1000")
}

func TestJSONMarshal(t *testing.T) {
	env := newTestEnv(t)
	tests := []struct{ name, expr, want string }{
		{"sorted keys", `json.marshal({'b': 1, 'a': 2, 'c': {'z': 1, 'y': 2}})`, `{"a":2,"b":1,"c":{"y":2,"z":1}}`},
		{"list", `json.marshal([3, 1, 2])`, `[3,1,2]`},
		{"empty map", `json.marshal({})`, `{}`},
		{"empty list", `json.marshal([])`, `[]`},
		{"empty string", `json.marshal('')`, `""`},
		{"null", `json.marshal(null)`, `null`},
		{"bools", `json.marshal([true, false])`, `[true,false]`},
		{"int", `json.marshal(-9223372036854775807 - 1)`, `-9223372036854775808`},
		{"uint", `json.marshal(18446744073709551615u)`, `18446744073709551615`},
		{"double", `json.marshal(2.5)`, `2.5`},
		{"integral double", `json.marshal(1.0)`, `1`},
		{"small double", `json.marshal(1e-7)`, `1e-7`},
		{"unicode and html kept", `json.marshal('héllo <b>&</b> ✓')`, `"héllo <b>&</b> ✓"`},
		{"control chars escaped", `json.marshal('a\nb\t"')`, `"a\nb\t\""`},
		{"bytes base64", `json.marshal(b'\x00\xff')`, `"AP8="`},
		{"timestamp", `json.marshal(timestamp('2024-01-02T03:04:05Z'))`, `"2024-01-02T03:04:05Z"`},
		{"duration", `json.marshal(duration('90s'))`, `"1m30s"`},
		{"int keys", `json.marshal({2: 'b', 10: 'a'})`, `{"10":"a","2":"b"}`},
		{"bool keys", `json.marshal({true: 1})`, `{"true":1}`},
		{"omit dropped", `json.marshal({'a': omit(), 'b': [1, omit(), 2]})`, `{"b":[1,2]}`},
		{"typed map", `json.marshal(m)`, `{"k":"v"}`},
		{"round trip", `json.marshal(json.unmarshal('{"b":[1,2.5,"x",null],"a":{}}'))`, `{"a":{},"b":[1,2.5,"x",null]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, mustEval(t, env, tc.expr, map[string]any{"m": map[string]string{"k": "v"}}))
		})
	}
}

func TestJSONMarshalDeterministic(t *testing.T) {
	env := newTestEnv(t)
	vars := map[string]any{"d": map[string]any{"z": 1, "a": []any{"x", map[string]any{"q": 1, "b": 2}}, "m": nil}}
	first := mustEval(t, env, "json.marshal(d)", vars)
	for range 20 {
		assert.Equal(t, first, mustEval(t, env, "json.marshal(d)", vars))
	}
	assert.Equal(t, `{"a":["x",{"b":2,"q":1}],"m":null,"z":1}`, first)
}

func TestJSONMarshalErrors(t *testing.T) {
	env := newTestEnv(t, MaxJSONBytes(16))
	tests := []struct{ name, expr, want string }{
		{"NaN", `json.marshal(0.0 / 0.0)`, "json.marshal: NaN has no JSON form"},
		{"infinity", `json.marshal([1.0 / 0.0])`, "json.marshal: +Inf has no JSON form"},
		{"omit itself", `json.marshal(omit())`, "json.marshal: omit() has no JSON form"},
		{"colliding keys", `json.marshal({1: 'a', '1': 'b'})`, `two map keys are both written as "1"`},
		{"double key", `json.marshal({1.5: 'a'})`, "map key of type double has no JSON form"},
		{"type value", `json.marshal(int)`, "cannot encode a value of type type"},
		{"too large", `json.marshal('` + strings.Repeat("x", 20) + `')`, "output is more than the limit of 16 bytes"},
		{"too large nested", `json.marshal([[1, 2, 3], [4, 5, 6], [7, 8, 9]])`, "more than the limit of 16 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Contains(t, evalErr(t, env, tc.expr, nil), tc.want)
		})
	}
}

func TestJSONWrongTypes(t *testing.T) {
	env := newTestEnv(t)
	for _, expr := range []string{"json.unmarshal(1)", "json.unmarshal(b'{}')", "json.marshal()", "json.marshal(1, 2)"} {
		_, err := compile(t, env, expr)
		assert.Contains(t, err, "found no matching overload", expr)
	}
}

func TestJSONCost(t *testing.T) {
	env := newTestEnv(t, MaxJSONBytes(1000))
	// Estimates are bounded by the byte limit even when the input size is unknown.
	for expr, maxCost := range map[string]uint64{
		"json.unmarshal(s)": 1 + 100,
		"json.marshal(d)":   1 + 100,
	} {
		ast, cerr := compile(t, env, expr)
		require.Empty(t, cerr)
		est, err := env.EstimateCost(ast, unknownSizes{})
		require.NoError(t, err)
		assert.LessOrEqual(t, est.Max, maxCost+1, expr) // +1 for the variable read
	}
	_, cost, err := eval(t, env, "json.unmarshal(s)", map[string]any{"s": `"` + strings.Repeat("x", 498) + `"`})
	require.NoError(t, err)
	assert.Equal(t, uint64(1+50+1), cost) // variable read + call of 500 bytes
}

// unknownSizes is a checker.CostEstimator that knows nothing about variables.
type unknownSizes struct{}

func (unknownSizes) EstimateSize(checker.AstNode) *checker.SizeEstimate { return nil }
func (unknownSizes) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}
