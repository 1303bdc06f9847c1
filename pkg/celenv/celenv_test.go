package celenv

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/yaml"
)

func loadSchema(t testing.TB, name string) *spec.Schema {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	js, err := yaml.YAMLToJSON(raw)
	require.NoError(t, err)
	s := &spec.Schema{}
	require.NoError(t, s.UnmarshalJSON(js))
	return s
}

func testEnv(t testing.TB, extra ...Variable) *Env {
	t.Helper()
	vars := append([]Variable{
		ObjectVariable("deployment", loadSchema(t, "deployment.yaml")),
		ObjectVariable("configmap", loadSchema(t, "configmap.yaml")),
		ListVariable("configmaps", loadSchema(t, "configmap.yaml")),
		DynVariable("anything"),
	}, extra...)
	env, err := NewEnv(vars)
	require.NoError(t, err)
	return env
}

func deploymentObj() map[string]any {
	return map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "namespace": "prod", "labels": map[string]any{"app": "web"}},
		"spec": map[string]any{
			"replicas": int64(3), "ratio": int64(2), "paused": nil,
			"strategy": map[string]any{"maxSurge": "25%"},
			"template": map[string]any{"spec": map[string]any{"containers": []any{
				map[string]any{"name": "app", "image": "nginx", "ports": []any{map[string]any{"containerPort": float64(80), "in": "tcp"}}},
			}}},
			"extra": map[string]any{"free": []any{"form", int64(1)}},
			"tags":  []any{"a", "b"},
		},
		"status": map[string]any{"availableReplicas": int64(2), "lastUpdate": "2024-05-01T10:00:00Z"},
	}
}

func TestBaseEnvLibraries(t *testing.T) {
	env, err := NewBaseEnv(cel.Variable("s", cel.StringType))
	require.NoError(t, err)
	for _, expr := range []string{
		`s.lowerAscii().split("-").join(".")`,            // ext.Strings
		`[3, 1, 2].sort() == [1, 2, 3]`,                  // ext.Lists
		`cel.bind(x, 2, x * x) == 4`,                     // ext.Bindings
		`base64.encode(b"hi") == "aGk="`,                 // ext.Encoders
		`{"a": 1}.all(k, v, v > 0)`,                      // two-variable comprehensions
		`optional.of(1).orValue(2) == 1`,                 // optional types
		`[1, 2].isSorted()`,                              // k8s lists
		`url("https://x.io/p").getHost() == "x.io"`,      // k8s urls
		`"abc".find("b") == "b"`,                         // k8s regex
		`quantity("1Gi").isGreaterThan(quantity("1Mi"))`, // k8s quantity
		`ip("10.0.0.1").family() == 4`,                   // k8s ip
		`cidr("10.0.0.0/8").containsIP(ip("10.1.2.3"))`,  // k8s cidr
		`semver("1.2.3").major() == 1`,                   // k8s semver
	} {
		_, iss := env.Compile(expr)
		assert.NoError(t, iss.Err(), expr)
	}
	for _, expr := range []string{`math.greatest(1, 2)`, `sets.contains([1], [1])`} {
		_, iss := env.Compile(expr)
		assert.Error(t, iss.Err(), "%s must not be available", expr)
	}
}

func TestTypedCompile(t *testing.T) {
	env := testEnv(t)
	tests := []struct {
		expr string
		want string // output type
		err  string
	}{
		{expr: "deployment.spec.replicas", want: "int"},
		{expr: "deployment.metadata.name", want: "string"},
		{expr: "deployment.metadata.namespace", want: "string"},
		{expr: "configmap.metadata.namespace + '/' + configmap.metadata.name", want: "string"},
		{expr: "configmap.metadata.labels", want: "map(string, string)"},
		{expr: "configmap.metadata.ownerReferences[0].uid", want: "string"},
		{expr: "configmap.data", want: "map(string, string)"},
		{expr: "deployment.spec.ratio", want: "double"},
		{expr: "deployment.spec.strategy.maxSurge", want: "dyn"},
		{expr: "deployment.spec.extra.free[0]", want: "dyn"},
		{expr: "deployment.spec.template.spec.containers[0].ports[0].`in`", want: "string"},
		{expr: "deployment.status.lastUpdate", want: "google.protobuf.Timestamp"},
		{expr: "configmaps.map(c, c.metadata.name)", want: "list(string)"},
		{expr: "deployment.?status.?availableReplicas.orValue(0)", want: "int"},
		{expr: "anything.whatever", want: "dyn"},
		{expr: "deployment.spec.nope", err: "undefined field 'nope'"},
		{expr: "deployment.spec.replicas + 'x'", err: "no matching overload"},
		{expr: "undeclared.x", err: "undeclared reference to 'undeclared'"},
		{expr: "deployment.spec.", err: "Syntax error"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			c, err := env.Compile(tc.expr)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				assert.Contains(t, err.Error(), tc.expr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, c.OutputType.String())
			assert.LessOrEqual(t, c.EstimatedCost.Max, MaxEstimatedCost)
		})
	}
}

func TestEnvRejectsDuplicates(t *testing.T) {
	_, err := NewEnv([]Variable{DynVariable("a"), DynVariable("a")})
	require.ErrorContains(t, err, `variable "a" declared twice`)
	_, err = NewEnv([]Variable{DynVariable("")})
	require.Error(t, err)
}

func TestEvalTyped(t *testing.T) {
	env := testEnv(t)
	vals := map[string]any{
		"deployment": deploymentObj(),
		"configmap":  map[string]any{"metadata": map[string]any{"name": "cfg", "namespace": "ns"}, "data": map[string]any{"k": "v"}},
		"configmaps": []any{map[string]any{"metadata": map[string]any{"name": "a"}}, map[string]any{"metadata": map[string]any{"name": "b"}}},
		"anything":   map[string]any{"x": []any{int64(1), "two"}},
	}
	tests := []struct {
		expr string
		want any
	}{
		{expr: "deployment.spec.replicas * 2", want: int64(6)},
		{expr: "deployment.spec.ratio * 1.5", want: float64(3)},
		{expr: "deployment.metadata.namespace", want: "prod"},
		{expr: "deployment.spec.template.spec.containers[0].ports[0].containerPort + 1", want: int64(81)},
		{expr: "deployment.spec.template.spec.containers[0].ports[0].`in`", want: "tcp"},
		{expr: "has(deployment.spec.paused)", want: false},
		{expr: "deployment.spec.strategy.maxSurge", want: "25%"},
		{expr: "deployment.spec.extra.free", want: []any{"form", int64(1)}},
		{expr: "deployment.status.lastUpdate + duration('1h')", want: "2024-05-01T11:00:00Z"},
		{expr: "configmaps.map(c, c.metadata.name)", want: []any{"a", "b"}},
		{expr: "configmap.metadata", want: map[string]any{"name": "cfg", "namespace": "ns"}},
		{expr: `{"name": configmap.metadata.name, "n": [1u, 2.5, null, b"hi"]}`, want: map[string]any{"name": "cfg", "n": []any{int64(1), 2.5, nil, "aGk="}}},
		{expr: "anything.x[1]", want: "two"},
		{expr: "optional.none()", want: nil},
		{expr: "duration('90s')", want: "1m30s"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			c, err := env.Compile(tc.expr)
			require.NoError(t, err)
			got, err := env.Eval(c, vals)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	// The input is not modified by conversion.
	assert.Equal(t, deploymentObj(), vals["deployment"])
}

func TestDataPending(t *testing.T) {
	env := testEnv(t)
	vals := map[string]any{
		"deployment": map[string]any{"metadata": map[string]any{"name": "web"}, "spec": map[string]any{"tags": []any{}}},
		"anything":   map[string]any{},
	}
	tests := []struct {
		expr    string
		pending bool
	}{
		{expr: "deployment.status.availableReplicas", pending: true},
		{expr: "deployment.spec.tags[3]", pending: true},
		{expr: "anything.missing", pending: true},
		{expr: "anything['missing']", pending: true},
		{expr: "1 / (size(deployment.metadata.name) - 3)", pending: false},
		{expr: "int('x' + deployment.metadata.name)", pending: false},
		{expr: "dyn(deployment.metadata.name) + 1", pending: false},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			c, err := env.Compile(tc.expr)
			require.NoError(t, err)
			_, err = env.Eval(c, vals)
			require.Error(t, err)
			assert.Equal(t, tc.pending, IsDataPending(err), err.Error())
		})
	}
	assert.False(t, IsDataPending(nil))
	assert.True(t, IsDataPending(errors.New("no such key: status")))
}

func TestCostEstimateReported(t *testing.T) {
	env := testEnv(t)
	// Unbounded lists nested four deep: far beyond the static limit.
	c, err := env.Compile("anything.l.all(a, anything.l.all(b, anything.l.all(c, anything.l.all(d, a == d))))")
	require.NoError(t, err, "an estimate above the limit is reported by CostError, not a compile error")
	err = c.CostError()
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrCostTooHigh))
	assert.Contains(t, err.Error(), "the limit is 10000000")
	assert.Regexp(t, `estimated worst-case cost is (\d+|unbounded), the limit is 10000000`, err.Error())

	c, err = env.Compile("configmaps.all(a, configmaps.all(b, configmaps.all(c, a.metadata.name != c.metadata.name)))")
	require.NoError(t, err)
	require.ErrorIs(t, c.CostError(), ErrCostTooHigh)

	// Bounded lists (maxItems 5 and 10) nest fine.
	c, err = env.Compile("deployment.spec.tags.all(a, deployment.spec.tags.all(b, deployment.spec.tags.all(c, a + b + c != '')))")
	require.NoError(t, err)
	assert.NoError(t, c.CostError())
	assert.Less(t, c.EstimatedCost.Max, uint64(10_000))
	// One pass over an unbounded collection is within the limit.
	c, err = env.Compile("configmaps.all(c, c.metadata.name != '')")
	require.NoError(t, err)
	assert.NoError(t, c.CostError())
}

func TestRuntimeCostLimit(t *testing.T) {
	env := testEnv(t)
	// Two nested passes over a collection are within the static estimate (CollectionMaxItems), so the
	// runtime limit is what stops them on a large input.
	c, err := env.Compile("configmaps.all(a, configmaps.all(b, a.metadata.name != '' || b.metadata.name == ''))")
	require.NoError(t, err)
	items := make([]any, 2000)
	for i := range items {
		items[i] = map[string]any{"metadata": map[string]any{"name": "cm"}}
	}
	_, err = env.Eval(c, map[string]any{"configmaps": items})
	require.ErrorIs(t, err, ErrCostLimitExceeded)
	assert.Contains(t, err.Error(), "the runtime CEL cost limit was hit: the evaluation was stopped at the per-evaluation limit of 1000000")
	assert.False(t, IsDataPending(err))

	small, err := env.Eval(c, map[string]any{"configmaps": items[:50]})
	require.NoError(t, err)
	assert.Equal(t, true, small)
}

func TestReferences(t *testing.T) {
	env := testEnv(t, DynVariable("schema"))
	tests := []struct {
		expr string
		want []Reference
	}{
		{expr: "deployment.status.availableReplicas", want: []Reference{{"deployment", "deployment.status.availableReplicas"}}},
		{expr: "schema.spec.name + '-' + configmap.metadata.name", want: []Reference{
			{"schema", "schema.spec.name"}, {"configmap", "configmap.metadata.name"}}},
		{expr: "deployment.spec.template.spec.containers[0].image", want: []Reference{
			{"deployment", "deployment.spec.template.spec.containers"}}},
		{expr: "configmaps.map(c, c.metadata.name)", want: []Reference{{"configmaps", "configmaps"}}},
		{expr: "[1, 2].all(configmap, configmap > 0)", want: nil},
		{expr: "cel.bind(deployment, 1, deployment + 1)", want: nil},
		{expr: "cel.bind(x, deployment.spec, x.replicas)", want: []Reference{{"deployment", "deployment.spec"}}},
		{expr: "has(deployment.status.observedGeneration)", want: []Reference{{"deployment", "deployment.status.observedGeneration"}}},
		{expr: "{'a': schema.spec.a}.a", want: []Reference{{"schema", "schema.spec.a"}}},
		{expr: "configmap.data.exists(k, v, k == 'a' && v != '') && schema.spec.v", want: []Reference{
			{"configmap", "configmap.data"}, {"schema", "schema.spec.v"}}},
		{expr: "schema.spec.a + schema.spec.a", want: []Reference{{"schema", "schema.spec.a"}}},
		{expr: "string(schema.spec.a).size() > 0", want: []Reference{{"schema", "schema.spec.a"}}},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			c, err := env.Compile(tc.expr)
			require.NoError(t, err)
			assert.Equal(t, tc.want, env.References(c.AST))
			// A parse-only AST gives the same answer.
			parsed, iss := env.CEL().Parse(tc.expr)
			require.NoError(t, iss.Err())
			assert.Equal(t, tc.want, References(parsed, env.VariableNames()))
		})
	}
}

func TestInspect(t *testing.T) {
	env, err := NewEnv(nil, cel.Function("hash.fnv64a", cel.Overload("hash_fnv64a_string", []*cel.Type{cel.StringType}, cel.BytesType)))
	require.NoError(t, err)
	tests := []struct {
		expr      string
		known     []string
		refs      []Reference
		idents    []string
		funcs     []string
		calledAll []string
	}{
		{expr: "deployment.spec.replicas > 0", known: []string{"deployment"},
			refs: []Reference{{"deployment", "deployment.spec.replicas"}}},
		{expr: "deploymnet.spec.replicas + other", known: []string{"deployment"}, idents: []string{"deploymnet", "other"}},
		{expr: "type(x) == int && x.all(i, i > 0)", known: []string{"x"}, refs: []Reference{{"x", "x"}}, calledAll: []string{"type"}},
		{expr: "nosuch(x) + x.frobnicate()", known: []string{"x"}, refs: []Reference{{"x", "x"}},
			funcs: []string{"frobnicate", "nosuch"}, calledAll: []string{"frobnicate", "nosuch"}},
		{expr: "hash.fnv64a(x)", known: []string{"x"}, refs: []Reference{{"x", "x"}}, calledAll: []string{"hash.fnv64a"}},
		{expr: "hash.md5(x)", known: []string{"x"}, refs: []Reference{{"x", "x"}}, idents: []string{"hash"},
			funcs: []string{"md5"}, calledAll: []string{"md5"}},
		{expr: "x.lowerAscii().startsWith('a')", known: []string{"x"}, refs: []Reference{{"x", "x"}},
			calledAll: []string{"lowerAscii", "startsWith"}},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			got, err := env.Inspect(tc.expr, tc.known)
			require.NoError(t, err)
			assert.Equal(t, tc.refs, got.References)
			assert.Equal(t, tc.idents, got.UnknownIdentifiers)
			assert.Equal(t, tc.funcs, got.UnknownFunctions)
			assert.Equal(t, tc.calledAll, got.Functions)
		})
	}
	_, err = env.Inspect("a +", nil)
	require.ErrorContains(t, err, "Syntax error")
}

func TestIteratorVariables(t *testing.T) {
	dep := loadSchema(t, "deployment.yaml")
	env := testEnv(t)
	c, err := env.Compile("configmaps")
	require.NoError(t, err)
	elem := c.OutputType.Parameters()[0]
	containers := dep.Properties["spec"].Properties["template"].Properties["spec"].Properties["containers"]
	ext, err := env.Extend(TypedVariable("cm", elem), ElementVariable("container", &containers))
	require.NoError(t, err)

	c2, err := ext.Compile("cm.metadata.name + ':' + container.image")
	require.NoError(t, err)
	out, err := ext.Eval(c2, map[string]any{
		"cm":        map[string]any{"metadata": map[string]any{"name": "a"}},
		"container": map[string]any{"name": "x", "image": "nginx"},
	})
	require.NoError(t, err)
	assert.Equal(t, "a:nginx", out)

	_, err = ext.Compile("container.nope")
	require.ErrorContains(t, err, "undefined field 'nope'")
}

func TestCheckAssignable(t *testing.T) {
	env := testEnv(t)
	dep := loadSchema(t, "deployment.yaml")
	// The expected types come from a separate declaration of the target schema, as a builder would do.
	target := ObjectVariable("target", dep).DeclType
	field := func(path ...string) *apiservercel.DeclType {
		dt := target
		for _, p := range path {
			dt = stepInto(dt, p)
			require.NotNil(t, dt, p)
		}
		return dt
	}
	tests := []struct {
		name     string
		expected *apiservercel.DeclType
		expr     string
		err      string
	}{
		{name: "int to int", expected: field("spec", "replicas"), expr: "deployment.spec.replicas"},
		{name: "string to int", expected: field("spec", "replicas"), expr: "deployment.metadata.name", err: `expression returns type "string" but expected "int": at the top level: expected int, got string`},
		{name: "int to double", expected: field("spec", "ratio"), expr: "deployment.spec.replicas", err: "expected double, got int"},
		{name: "dyn passes", expected: field("spec", "replicas"), expr: "anything.x"},
		{name: "anything to int-or-string", expected: field("spec", "strategy", "maxSurge"), expr: "[1]"},
		{name: "optional unwraps", expected: field("spec", "replicas"), expr: "deployment.?spec.?replicas"},
		{name: "optional of wrong type", expected: field("spec", "replicas"), expr: "deployment.?metadata.?name", err: "expected int, got string"},
		{name: "string to timestamp", expected: field("status", "lastUpdate"), expr: "'2024-01-01T00:00:00Z'"},
		{name: "list of strings", expected: field("spec", "tags"), expr: "['a', 'b']"},
		{name: "list of ints to strings", expected: field("spec", "tags"), expr: "[1, 2]", err: "at []: expected string, got int"},
		{name: "map to map", expected: field("metadata", "labels"), expr: "configmap.data"},
		{name: "map of ints to labels", expected: field("metadata", "labels"), expr: "{'a': 1}", err: "at [*]: expected string, got int"},
		{name: "same struct", expected: field("spec", "template"), expr: "deployment.spec.template"},
		{name: "struct subset", expected: field("spec"), expr: "deployment.spec"},
		{name: "struct with extra field", expected: field("spec", "selector"), expr: "deployment.spec",
			err: `field "extra" does not exist in the expected object`},
		{name: "struct field mismatch", expected: field("spec", "template", "spec", "containers"), expr: "[deployment.metadata]",
			err: `field "namespace" does not exist`},
		{name: "map literal to struct", expected: field("spec", "selector"), expr: "{'matchLabels': {'a': 'b'}}"},
		{name: "map to struct without a fitting field", expected: field("spec", "strategy", "maxSurge"), expr: "{'a': 1}"},
		{name: "map of int to struct of strings", expected: field("metadata"), expr: "{'name': 1.5}", err: "fit no field"},
		{name: "struct to map", expected: field("metadata", "labels"), expr: "deployment.spec.selector", err: "expected string"},
		{name: "list to object", expected: field("spec"), expr: "[1]", err: "expected an object, got list(int)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := env.Compile(tc.expr)
			require.NoError(t, err)
			err = env.CheckAssignable(tc.expected, c.OutputType)
			if tc.err == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
	assert.NoError(t, env.CheckAssignable(nil, types.IntType))
}

func TestSchemaForType(t *testing.T) {
	env := testEnv(t)
	tests := []struct {
		expr string
		want string // JSON of the schema
	}{
		{expr: "true", want: `{"type":"boolean"}`},
		{expr: "1", want: `{"type":"integer"}`},
		{expr: "1u", want: `{"type":"integer"}`},
		{expr: "1.5", want: `{"type":"number"}`},
		{expr: "'s'", want: `{"type":"string"}`},
		{expr: "b's'", want: `{"type":"string","format":"byte"}`},
		{expr: "deployment.status.lastUpdate", want: `{"type":"string","format":"date-time"}`},
		{expr: "duration('1s')", want: `{"type":"string","format":"duration"}`},
		{expr: "[1]", want: `{"type":"array","items":{"type":"integer"}}`},
		{expr: "{'a': 'b'}", want: `{"type":"object","additionalProperties":{"type":"string"}}`},
		{expr: "anything", want: `{"x-kubernetes-preserve-unknown-fields":true}`},
		{expr: "null", want: `{"x-kubernetes-preserve-unknown-fields":true}`},
		{expr: "optional.of(1)", want: `{"type":"integer"}`},
		{expr: "deployment.spec.template.spec.containers[0].ports",
			want: `{"type":"array","items":{"type":"object","properties":{"containerPort":{"type":"integer"},"in":{"type":"string"}}}}`},
		{expr: "deployment.spec.strategy", want: `{"type":"object","properties":{"maxSurge":{"x-kubernetes-preserve-unknown-fields":true}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			c, err := env.Compile(tc.expr)
			require.NoError(t, err)
			got, err := yaml.Marshal(env.SchemaForType(c.OutputType))
			require.NoError(t, err)
			want, err := yaml.JSONToYAML([]byte(tc.want))
			require.NoError(t, err)
			assert.Equal(t, string(want), string(got))
		})
	}
}

// TestSchemaForObjectGolden pins the full status schema inferred for a whole object.
func TestSchemaForObjectGolden(t *testing.T) {
	env := testEnv(t)
	c, err := env.Compile("configmap")
	require.NoError(t, err)
	got, err := yaml.Marshal(env.SchemaForType(c.OutputType))
	require.NoError(t, err)
	golden := filepath.Join("testdata", "configmap-status-schema.golden.yaml")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		require.NoError(t, os.WriteFile(golden, got, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
	assert.Contains(t, string(got), "namespace:", "keyword field names are unescaped")
}

func TestActivationNormalizes(t *testing.T) {
	env := testEnv(t)
	in := deploymentObj()
	in["spec"].(map[string]any)["replicas"] = float64(3)
	act := env.Activation(map[string]any{"deployment": in, "other": 1})
	spec := act["deployment"].(map[string]any)["spec"].(map[string]any)
	assert.Equal(t, int64(3), spec["replicas"])
	assert.Equal(t, float64(2), spec["ratio"])
	assert.NotContains(t, spec, "paused")
	status := act["deployment"].(map[string]any)["status"].(map[string]any)
	assert.Equal(t, time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), status["lastUpdate"].(time.Time).UTC())
	assert.Equal(t, 1, act["other"])
	// Untouched subtrees are shared, not copied.
	assert.True(t, same(in["metadata"], act["deployment"].(map[string]any)["metadata"]))
}

// TestActivationAllocatesOnlyWhatChanges: an object that needs no
// conversion costs no more allocations than a value passed through
// unconverted: none per field, none per list.
func TestActivationAllocatesOnlyWhatChanges(t *testing.T) {
	env := testEnv(t)
	in := deploymentObj()
	// Nothing to convert: no date-time, no null, numbers of their types.
	delete(in, "status")
	spec := in["spec"].(map[string]any)
	delete(spec, "paused")
	spec["ratio"] = float64(2)
	container := spec["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	container["ports"].([]any)[0].(map[string]any)["containerPort"] = int64(80)
	values := map[string]any{"deployment": in}
	env.Activation(values) // the first call indexes the schemas
	allocs := testing.AllocsPerRun(100, func() { env.Activation(values) })
	undeclared := map[string]any{"other": in} // passed through as it is
	activationMap := testing.AllocsPerRun(100, func() { env.Activation(undeclared) })
	assert.Equal(t, activationMap, allocs)
	assert.True(t, same(in, env.Activation(values)["deployment"]))
}

func TestToNativeErrors(t *testing.T) {
	env := testEnv(t)
	for expr, msg := range map[string]string{
		"{1: 'a'}":              "map key 1 has type int, expected string",
		"18446744073709551615u": "does not fit in an int64",
		"type(1)":               "cannot represent",
	} {
		c, err := env.Compile(expr)
		require.NoError(t, err, expr)
		_, err = env.Eval(c, nil)
		require.Error(t, err, expr)
		assert.True(t, strings.Contains(err.Error(), msg), "%s: %v", expr, err)
	}
}

// TestChainsFilteredAreReferences checks that filtering the
// declaration-independent chains of an expression gives its References.
func TestChainsFilteredAreReferences(t *testing.T) {
	env, err := NewBaseEnv()
	require.NoError(t, err)
	rootSets := [][]string{nil, {"a"}, {"a", "b"}, {"x", "c", "each"}, {"hash", "a"}}
	for _, src := range []string{
		`a.b.c`,
		`a.?b.?c.orValue(1) + b.d`,
		`a.list.exists(x, x.name == b.name && c.d)`,
		`a.list.map(a, a.v).size() > 0`,
		`cel.bind(b, a.v, b.w + c.x)`,
		`[a.x, {"k": b.y}, f(c).z, f(c).?z]`,
		`a.m.all(k, v, k == v) || each.status.ready`,
		`hash.sha256(a.b) == x.y.z && a.b.c == a.b`,
		`has(a.b.c) ? a.b.c : b`,
	} {
		parsed, iss := env.Parse(src)
		require.NoError(t, iss.Err(), src)
		chains := Chains(parsed)
		for _, roots := range rootSets {
			require.Equal(t, References(parsed, roots), FilterReferences(chains, roots), "%s with roots %v", src, roots)
		}
	}
}
