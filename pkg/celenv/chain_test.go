package celenv

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// requireSameParse checks that the chain fast path, when it takes expr,
// builds exactly the CEL parser's AST and source positions.
func requireSameParse(t *testing.T, env *cel.Env, expr string) bool {
	t.Helper()
	fast, ok := parseChain(expr)
	if !ok {
		return false
	}
	slow, iss := env.Parse(expr)
	require.NoError(t, iss.Err(), "the fast path took %q, which the parser rejects", expr)
	want, err := cel.AstToParsedExpr(slow)
	require.NoError(t, err)
	got, err := cel.AstToParsedExpr(fast)
	require.NoError(t, err)
	require.True(t, proto.Equal(want, got), "%q:\nparser: %v\nfast:   %v", expr, want, got)
	ws, gs := slow.NativeRep().SourceInfo(), fast.NativeRep().SourceInfo()
	for id, r := range ws.OffsetRanges() {
		assert.Equal(t, r.Start, gs.OffsetRanges()[id].Start, "%q id %d", expr, id)
	}
	assert.Equal(t, slow.Source().Content(), fast.Source().Content())
	assert.Equal(t, slow.Source().Description(), fast.Source().Description())
	assert.Equal(t, slow.Source().LineOffsets(), fast.Source().LineOffsets())
	return true
}

func TestParseChainIsTheParsersAST(t *testing.T) {
	env, err := NewBaseEnv()
	require.NoError(t, err)
	taken := []string{"schema", "schema.spec.name", "a.b", "_x.y_1.Z9", "deployment.status.availableReplicas",
		"pod19.metadata.name", "a.b.c.d.e.f.g.h", "schema.spec.namespace", "a.as.while.package"}
	for _, e := range taken {
		assert.True(t, requireSameParse(t, env, e), "the fast path should take %q", e)
	}
	declined := []string{"", ".a", "a.", "a..b", "a .b", " a.b", "a.b ", "a.1b", "1a", "namespace.a", "as", "in.x", "a.in",
		"a.true", "null", "a.b()", "a[0]", "a.?b", "a.`b-c`", "a+b", "a.b\n.c", "é.b", "has(a.b)",
		strings.Repeat("a.", 40) + "a"}
	for _, e := range declined {
		_, ok := parseChain(e)
		assert.False(t, ok, "the fast path must leave %q to the parser", e)
	}

	// Random chains, valid or not, from pieces that matter.
	pieces := []string{"a", "b", "spec", "_", "x1", "1", "in", "namespace", "as", "true", "", "Z", "é", " ", "ab_9"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		n := 1 + rng.IntN(5)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = pieces[rng.IntN(len(pieces))]
		}
		expr := strings.Join(parts, ".")
		if _, ok := parseChain(expr); ok {
			requireSameParse(t, env, expr)
		}
	}
}

// TestParseChainChecksAsTheParsersAST checks and evaluates chains parsed
// both ways in a typed environment, errors included.
func TestParseChainChecksAsTheParsersAST(t *testing.T) {
	s := &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Properties: map[string]spec.Schema{
		"spec": {SchemaProps: spec.SchemaProps{Type: []string{"object"}, Properties: map[string]spec.Schema{
			"name": *spec.StringProperty(), "replicas": *spec.Int64Property(),
		}}},
	}}}
	base, err := NewBase()
	require.NoError(t, err)
	env, err := base.NewEnv([]Variable{ObjectVariable("schema", s)})
	require.NoError(t, err)
	for _, expr := range []string{"schema.spec.name", "schema.spec.replicas", "schema.spec.missing", "schema.metadata.name", "schema.metadata.namespace", "nothing.here"} {
		fast, ok := parseChain(expr)
		require.True(t, ok, expr)
		slow, err := env.Parse(expr)
		require.NoError(t, err)
		cf, errFast := env.CompileParsed(expr, fast)
		cs, errSlow := env.CompileParsed(expr, slow)
		if errSlow != nil {
			require.Error(t, errFast, expr)
			assert.Equal(t, errSlow.Error(), errFast.Error())
			continue
		}
		require.NoError(t, errFast, expr)
		assert.Equal(t, cs.OutputType, cf.OutputType)
		assert.Equal(t, cs.EstimatedCost, cf.EstimatedCost)
		in := map[string]any{"schema": map[string]any{"spec": map[string]any{"name": "n", "replicas": int64(2)}, "metadata": map[string]any{"name": "m", "namespace": "ns"}}}
		vs, errS := env.Eval(cs, in)
		vf, errF := env.Eval(cf, in)
		assert.Equal(t, vs, vf)
		assert.Equal(t, errS, errF)
	}
}

// FuzzParseChain checks that whatever the chain fast path accepts, the CEL
// parser accepts too and parses to the same AST and source positions.
func FuzzParseChain(f *testing.F) {
	for _, seed := range []string{"schema.spec.name", "a", "a.b1._c", "in.x", "x.in", "a..b", "1a.b", "a.b ", "namespace.x", "x.namespace"} {
		f.Add(seed)
	}
	env, err := NewBaseEnv()
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, expr string) {
		requireSameParse(t, env, expr)
	})
}
