package celenv

import (
	"sort"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// chainPaths lists the select chains under prefix that s declares, to depth
// levels, each followed by a field s does not declare and, for leaves, a
// selection on the leaf value (which the checker rejects or types dyn).
func chainPaths(prefix string, s *spec.Schema, depth int) []string {
	out := []string{prefix, prefix + ".notDeclared"}
	if s == nil || depth == 0 {
		return out
	}
	names := make([]string, 0, len(s.Properties))
	for name := range s.Properties {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := s.Properties[name]
		out = append(out, chainPaths(prefix+"."+name, &p, depth-1)...)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		out = append(out, chainPaths(prefix+".someKey", s.AdditionalProperties.Schema, depth-1)...)
	}
	if len(s.Properties) == 0 && s.AdditionalProperties == nil {
		out = append(out, prefix+".x")
	}
	return out
}

// TestCheckChainIsTheCheckersResult compares, for every select chain of
// the test schemas and several that the checker rejects, the chain typing
// with cel-go's checker and cost estimator: the chain typing must either
// decline or give the same checked AST, output type and cost, and a program
// planned from it must evaluate to the same value.
func TestCheckChainIsTheCheckersResult(t *testing.T) {
	dict := &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"},
		AdditionalProperties: &spec.SchemaOrBool{Allows: true, Schema: spec.StringProperty()}}}
	loose := &spec.Schema{}
	loose.Type = []string{"object"}
	loose.AddExtension("x-kubernetes-preserve-unknown-fields", true)
	intOrString := &spec.Schema{}
	intOrString.AddExtension("x-kubernetes-int-or-string", true)
	spc := &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Properties: map[string]spec.Schema{
		"name": *spec.StringProperty(), "namespace": *spec.StringProperty(), "replicas": *spec.Int64Property(),
		"labels": *dict, "extra": *loose, "port": *intOrString, "tags": *spec.ArrayProperty(spec.StringProperty()),
	}}}
	instance := &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Properties: map[string]spec.Schema{"spec": *spc}}}
	env := testEnv(t, ObjectVariable("schema", instance), SchemaVariable("plain", spc))
	require.True(t, env.base.typeChains, "the test base must allow chain typing")

	exprs := chainPaths("deployment", loadSchema(t, "deployment.yaml"), 6)
	exprs = append(exprs, chainPaths("configmap", loadSchema(t, "configmap.yaml"), 3)...)
	exprs = append(exprs, chainPaths("schema", instance, 4)...)
	exprs = append(exprs, chainPaths("plain", spc, 3)...)
	exprs = append(exprs, "anything", "anything.a.b", "configmaps", "configmaps.x", "undeclared.a",
		"schema.metadata.name", "schema.metadata.labels.app", "deployment.metadata.annotations.x.y")

	values := map[string]any{
		"deployment": deploymentObj(),
		"configmap":  map[string]any{"metadata": map[string]any{"name": "cm"}, "data": map[string]any{"k": "v"}},
		"schema": map[string]any{"metadata": map[string]any{"name": "i", "labels": map[string]any{"app": "a"}},
			"spec": map[string]any{"name": "n", "namespace": "ns", "replicas": int64(2), "labels": map[string]any{"someKey": "v"},
				"extra": map[string]any{"someKey": map[string]any{"x": int64(1)}}, "port": "http", "tags": []any{"a"}}},
		"anything": map[string]any{"a": map[string]any{"b": true}},
	}
	values["plain"] = values["schema"].(map[string]any)["spec"]

	taken, declined := 0, []string(nil)
	for _, expr := range exprs {
		parsed, err := env.base.Parse(expr)
		require.NoError(t, err, expr)
		fast, ok := env.checkChain(expr, parsed)
		reparsed, err := env.base.Parse(expr)
		require.NoError(t, err, expr)
		slow, slowErr := env.checkWithCEL(expr, reparsed)
		if !ok {
			if slowErr == nil {
				declined = append(declined, expr)
			}
			continue
		}
		taken++
		require.NoError(t, slowErr, "chain typing accepted %q, which the checker rejects", expr)
		want, err := cel.AstToCheckedExpr(slow.AST)
		require.NoError(t, err)
		got, err := cel.AstToCheckedExpr(fast.AST)
		require.NoError(t, err)
		require.True(t, proto.Equal(want, got), "%q:\nchecker: %v\nchain:   %v", expr, want, got)
		assert.True(t, slow.OutputType.IsExactType(fast.OutputType), "%q: checker %s, chain %s", expr, slow.OutputType, fast.OutputType)
		assert.Equal(t, slow.EstimatedCost, fast.EstimatedCost, expr)

		for _, c := range []*Compiled{slow, fast} {
			c.Program, err = env.Plan(c)
			require.NoError(t, err, expr)
		}
		wantVal, wantErr := env.Eval(slow, values)
		gotVal, gotErr := env.Eval(fast, values)
		assert.Equal(t, wantVal, gotVal, expr)
		assert.Equal(t, wantErr == nil, gotErr == nil, "%q: checker's program: %v, chain's: %v", expr, wantErr, gotErr)
	}
	// Every chain the checker accepts takes the fast path: the comparison
	// above covered them all.
	assert.Empty(t, declined, "chains the checker accepts but chain typing declined")
	assert.Greater(t, taken, 50)
}

func TestCheckChainDeclinesWhatItCannotProve(t *testing.T) {
	env := testEnv(t)
	for _, expr := range []string{
		"deployment.spec.notDeclared",                 // the checker words the error
		"deployment.metadata.name.x",                  // selection on a string
		"configmaps.x",                                // selection on a list
		"undeclared.a",                                // not a variable
		"has(deployment.spec)",                        // a presence test
		"deployment.?spec",                            // an optional selection
		"deployment.spec.template.spec.containers[0]", // an index
	} {
		parsed, err := env.base.Parse(expr)
		require.NoError(t, err, expr)
		_, ok := env.checkChain(expr, parsed)
		assert.False(t, ok, expr)
	}

	// A base whose options declare variables (which a qualified name could
	// mean) never types chains itself.
	b, err := NewBase(cel.Variable("deployment.spec", cel.StringType))
	require.NoError(t, err)
	assert.False(t, b.typeChains)
	e, err := b.NewEnv([]Variable{ObjectVariable("deployment", loadSchema(t, "deployment.yaml"))})
	require.NoError(t, err)
	c, err := e.Compile("deployment.spec")
	require.NoError(t, err)
	assert.Equal(t, "string", c.OutputType.String(), "the checker reads deployment.spec as the declared name")

	// A variable whose name has a dot turns chain typing off for its
	// environment.
	e, err = NewEnv([]Variable{DynVariable("a.b"), DynVariable("a")})
	require.NoError(t, err)
	parsed, err := e.base.Parse("a.b")
	require.NoError(t, err)
	_, ok := e.checkChain("a.b", parsed)
	assert.False(t, ok)
}
