package template

import (
	"errors"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func lit(s string) Segment  { return Segment{Literal: s} }
func expr(s string) Segment { return Segment{Expr: s, IsExpr: true} }

func TestParse(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		want       []Segment
		standalone bool
	}{
		{name: "empty", in: "", want: nil},
		{name: "plain text", in: "hello", want: []Segment{lit("hello")}},
		{name: "lone dollar and braces", in: "a $ b { c } $x {$}", want: []Segment{lit("a $ b { c } $x {$}")}},
		{name: "dollar at end", in: "cost$", want: []Segment{lit("cost$")}},
		{name: "standalone", in: "${schema.spec.replicas}", want: []Segment{expr("schema.spec.replicas")}, standalone: true},
		{name: "standalone with spaces inside", in: "${ a + b }", want: []Segment{expr(" a + b ")}, standalone: true},
		{name: "space outside is a template", in: " ${a}", want: []Segment{lit(" "), expr("a")}},
		{name: "template", in: "app-${schema.spec.name}-svc", want: []Segment{lit("app-"), expr("schema.spec.name"), lit("-svc")}},
		{name: "adjacent expressions", in: "${a}${b}", want: []Segment{expr("a"), expr("b")}},
		{name: "map literal", in: `${{"a": x}}`, want: []Segment{expr(`{"a": x}`)}, standalone: true},
		{name: "nested map literal", in: `${{"a": {"b": {"c": 1}}}.a}`, want: []Segment{expr(`{"a": {"b": {"c": 1}}}.a`)}, standalone: true},
		{name: "brace in double-quoted string", in: `${"}" + x}`, want: []Segment{expr(`"}" + x`)}, standalone: true},
		{name: "brace in single-quoted string", in: `${'{' + x + '}'}`, want: []Segment{expr(`'{' + x + '}'`)}, standalone: true},
		{name: "escaped quote", in: `${"a\"}" + x}`, want: []Segment{expr(`"a\"}" + x`)}, standalone: true},
		{name: "escaped backslash before quote", in: `${"a\\" + "}"}`, want: []Segment{expr(`"a\\" + "}"`)}, standalone: true},
		{name: "raw string keeps backslash", in: `${r"\" + "}"}`, want: []Segment{expr(`r"\" + "}"`)}, standalone: true},
		{name: "raw upper-case and bytes prefix", in: `${bR'\' == b'x'}`, want: []Segment{expr(`bR'\' == b'x'`)}, standalone: true},
		{name: "identifier ending in r is not a raw prefix", in: `${foo.bar + "\"}"}`, want: []Segment{expr(`foo.bar + "\"}"`)}, standalone: true},
		{name: "triple quoted", in: `${'''it's "}" ok''' + x}`, want: []Segment{expr(`'''it's "}" ok''' + x`)}, standalone: true},
		{name: "triple double quoted", in: `${"""a " } b"""}`, want: []Segment{expr(`"""a " } b"""`)}, standalone: true},
		{name: "var idiom", in: `${"${VAR}"}`, want: []Segment{expr(`"${VAR}"`)}, standalone: true},
		{name: "var idiom in template", in: `echo ${"${HOME}"}/bin`, want: []Segment{lit("echo "), expr(`"${HOME}"`), lit("/bin")}},
		{name: "closing brace after expression is literal", in: "${a}}", want: []Segment{expr("a"), lit("}")}},
		{name: "multi-line", in: "${a &&\n  b}", want: []Segment{expr("a &&\n  b")}, standalone: true},
		{name: "dollar before template", in: "$${a}", want: []Segment{lit("$"), expr("a")}},
		{name: "unicode", in: "ünï-${x}-ß", want: []Segment{lit("ünï-"), expr("x"), lit("-ß")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got.Segments)
			assert.Equal(t, tc.standalone, got.IsStandalone())
			assert.Equal(t, tc.in, got.String(), "round trip")
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		offset int
		msg    string
	}{
		{name: "unterminated", in: "abc ${schema.spec", offset: 4, msg: "unterminated expression: expected } to close ${"},
		{name: "unterminated with open brace", in: "${{'a': 1", offset: 0, msg: "expected 1 more }"},
		{name: "unterminated after good one", in: "${a}-${b", offset: 5, msg: "unterminated expression"},
		{name: "empty", in: "x-${}", offset: 2, msg: "empty expression"},
		{name: "blank", in: "${  \n }", offset: 0, msg: "empty expression"},
		{name: "nested", in: "${a + ${b}}", offset: 6, msg: "nested ${ inside the expression opened at byte offset 0"},
		{name: "nested after string", in: `${"x" + ${b}}`, offset: 8, msg: "nested ${"},
		{name: "unterminated string", in: `${"abc}`, offset: 2, msg: `unterminated string literal in the expression opened at byte offset 0: expected a closing "`},
		{name: "unterminated triple string", in: `${'''abc'}`, offset: 2, msg: "expected a closing '''"},
		{name: "escape at end", in: `${"abc\`, offset: 2, msg: "unterminated string literal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.in)
			require.Error(t, err)
			var se *SyntaxError
			require.True(t, errors.As(err, &se), "error type %T", err)
			assert.Equal(t, tc.offset, se.Offset)
			assert.Contains(t, se.Msg, tc.msg)
			assert.Contains(t, err.Error(), "at byte offset")
		})
	}
}

func TestAccessors(t *testing.T) {
	tpl, err := Parse("a-${x}-${y.z}")
	require.NoError(t, err)
	assert.True(t, tpl.HasExpressions())
	assert.False(t, tpl.IsStandalone())
	assert.Equal(t, []string{"x", "y.z"}, tpl.Expressions())

	plain, err := Parse("nothing here")
	require.NoError(t, err)
	assert.False(t, plain.HasExpressions())
	assert.Nil(t, plain.Expressions())
}

func TestCEL(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{in: "", want: `""`},
		{in: "${a.b}", want: "a.b"},
		{in: "plain", want: `"plain"`},
		{in: "a-${x}-b", want: `"a-" + (x) + "-b"`},
		{in: `q"\` + "\n\t${x}", want: `"q\"\\\n\t" + (x)`},
		{in: "${x}${y}", want: `(x) + (y)`},
		{in: "${x // c}!", want: "(x // c\n) + \"!\""},
	}
	for _, tc := range tests {
		tpl, err := Parse(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, tpl.CEL(), tc.in)
	}
}

// TestCELEvaluates checks that the generated concatenation is valid CEL producing the rendered string.
func TestCELEvaluates(t *testing.T) {
	env, err := cel.NewEnv(cel.Variable("x", cel.StringType), cel.Variable("y", cel.StringType))
	require.NoError(t, err)
	vars := map[string]any{"x": "X", "y": "Y"}
	tests := []struct {
		in   string
		want string
	}{
		{in: "plain", want: "plain"},
		{in: "a-${x}-b", want: "a-X-b"},
		{in: `quote " back \ nl` + "\n tab\t ctl\x01 del\x7f ü ${x}", want: `quote " back \ nl` + "\n tab\t ctl\x01 del\x7f ü X"},
		{in: "${x}${y}", want: "XY"},
		{in: `${x + "}"}/${'${y}'}`, want: "X}/${y}"},
		{in: "${x // trailing comment}.", want: "X."},
		{in: "bad \xff byte ${x}", want: "bad \uFFFD byte X"},
	}
	for _, tc := range tests {
		tpl, err := Parse(tc.in)
		require.NoError(t, err, tc.in)
		ast, iss := env.Compile(tpl.CEL())
		require.NoError(t, iss.Err(), "%q -> %s", tc.in, tpl.CEL())
		prg, err := env.Program(ast)
		require.NoError(t, err)
		out, _, err := prg.Eval(vars)
		require.NoError(t, err)
		assert.Equal(t, tc.want, out.Value(), tc.in)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "a", "${a}", "x-${a}-y", `${"}"}`, `${{"a": {"b": 1}}}`, `${"${VAR}"}`,
		`${'''a'''}`, `${r"\"}`, "${", "${}", "${a ${b}}", "$", "{}", `${"\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tpl, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if se.Offset < 0 || se.Offset > len(s) {
				t.Fatalf("offset %d out of range for input of %d bytes", se.Offset, len(s))
			}
			return
		}
		if got := tpl.String(); got != s {
			t.Fatalf("round trip: got %q want %q", got, s)
		}
		for i, seg := range tpl.Segments {
			if seg.IsExpr {
				if seg.Literal != "" {
					t.Fatalf("expression segment %d carries literal text", i)
				}
				continue
			}
			if seg.Literal == "" {
				t.Fatalf("empty literal segment %d", i)
			}
			if i > 0 && !tpl.Segments[i-1].IsExpr {
				t.Fatalf("adjacent literal segments at %d", i)
			}
		}
		_ = tpl.CEL()
		_ = tpl.Expressions()
	})
}
