package crdgen

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// assertGolden compares got, as YAML, with testdata/<name>; -update rewrites it.
func assertGolden(t *testing.T, name string, got any) {
	t.Helper()
	out, err := yaml.Marshal(got)
	require.NoError(t, err)
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, out, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "golden file missing: run go test ./pkg/crdgen -update")
	assert.Equal(t, string(want), string(out), "generated output differs from %s (run with -update to accept)", path)
}

func jsonRaw(s string) *apiextensionsv1.JSON { return &apiextensionsv1.JSON{Raw: []byte(s)} }

// cartsStackInput is what the compiler hands over for the CartsStack RGD.
func cartsStackInput() Input {
	return Input{
		Group:   "kro.run",
		Version: "v1alpha1",
		Kind:    "CartsStack",
		Spec: &apiextensionsv1.JSONSchemaProps{
			Type:     "object",
			Required: []string{"namespace", "tableName"},
			Properties: map[string]apiextensionsv1.JSONSchemaProps{
				"tableName": {Type: "string"},
				"namespace": {Type: "string"},
				"image": {Type: "string",
					Default: jsonRaw(`"public.ecr.aws/aws-containers/retail-store-sample-cart:1.2.1"`)},
				"replicas": {Type: "integer", Default: jsonRaw(`1`)},
			},
		},
		Status: &apiextensionsv1.JSONSchemaProps{
			Type: "object",
			Properties: map[string]apiextensionsv1.JSONSchemaProps{
				"tableArn": {Type: "string"},
			},
		},
		RGDName: "cartsstack",
	}
}

func TestGenerateCartsStack(t *testing.T) {
	in := cartsStackInput()
	crd, err := Generate(in)
	require.NoError(t, err)

	assert.Equal(t, "cartsstacks.kro.run", crd.Name)
	assert.Equal(t, apiextensionsv1.NamespaceScoped, crd.Spec.Scope)
	assert.Equal(t, apiextensionsv1.CustomResourceDefinitionNames{
		Plural: "cartsstacks", Singular: "cartsstack", Kind: "CartsStack", ListKind: "CartsStackList",
	}, crd.Spec.Names)
	require.Len(t, crd.Spec.Versions, 1)
	v := crd.Spec.Versions[0]
	assert.True(t, v.Served)
	assert.True(t, v.Storage)
	assert.NotNil(t, v.Subresources.Status)
	assert.Nil(t, v.Subresources.Scale)
	assert.Equal(t, DefaultPrinterColumns(), v.AdditionalPrinterColumns)
	assert.Equal(t, map[string]string{LabelOwned: "true", LabelRGDName: "cartsstack"}, crd.Labels)

	status := v.Schema.OpenAPIV3Schema.Properties["status"]
	assert.Contains(t, status.Properties, "tableArn")
	assert.Equal(t, "string", status.Properties[StatusState].Type)
	conditions := status.Properties[StatusConditions]
	assert.Equal(t, "array", conditions.Type)
	item := conditions.Items.Schema
	assert.Equal(t, "date-time", item.Properties["lastTransitionTime"].Format)
	assert.Equal(t, "int64", item.Properties["observedGeneration"].Format)

	assertGolden(t, "cartsstack.yaml", crd)
}

func TestGenerateClusterScopedWithCustomColumns(t *testing.T) {
	in := Input{
		Group:   "platform.example.com",
		Version: "v1beta2",
		Kind:    "TenantPolicy",
		Scope:   apiextensionsv1.ClusterScoped,
		Spec: &apiextensionsv1.JSONSchemaProps{
			Type:     "object",
			Required: []string{"tenant"},
			Properties: map[string]apiextensionsv1.JSONSchemaProps{
				"tenant": {Type: "string", Pattern: "^[a-z]+$", MaxLength: ptr[int64](30)},
				"quota": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
					"cpu": {Type: "integer", Minimum: ptr(1.0), Default: jsonRaw("2")},
				}, Default: jsonRaw("{}")},
				"tags": {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{
					Schema: &apiextensionsv1.JSONSchemaProps{Type: "string"}}},
			},
		},
		PrinterColumns: []apiextensionsv1.CustomResourceColumnDefinition{
			{Name: "Tenant", Type: "string", JSONPath: ".spec.tenant"},
			{Name: "CPU", Type: "integer", JSONPath: ".spec.quota.cpu", Priority: 1},
		},
		ShortNames:  []string{"tp", "tpol"},
		Categories:  []string{"platform", "all"},
		Labels:      map[string]string{"team": "platform", "example.com/tier": "gold"},
		Annotations: map[string]string{"example.com/owner": "platform-team"},
		RGDName:     "tenant-policy",
	}
	crd, err := Generate(in)
	require.NoError(t, err)

	assert.Equal(t, "tenantpolicies.platform.example.com", crd.Name)
	assert.Equal(t, apiextensionsv1.ClusterScoped, crd.Spec.Scope)
	assert.Equal(t, []string{"tp", "tpol"}, crd.Spec.Names.ShortNames)
	assert.Equal(t, []string{"platform", "all"}, crd.Spec.Names.Categories)
	assert.Equal(t, in.PrinterColumns, crd.Spec.Versions[0].AdditionalPrinterColumns)
	assert.Equal(t, "platform", crd.Labels["team"])
	assert.Equal(t, "true", crd.Labels[LabelOwned])
	assert.Equal(t, "tenant-policy", crd.Labels[LabelRGDName])
	assert.Equal(t, map[string]string{"example.com/owner": "platform-team"}, crd.Annotations)

	assertGolden(t, "cluster-custom-columns.yaml", crd)
}

func TestGenerateMinimal(t *testing.T) {
	crd, err := Generate(Input{Version: "v1", Kind: "Noop", RGDName: "noop"})
	require.NoError(t, err)
	assert.Equal(t, "noops.kro.run", crd.Name, "group defaults to kro.run")
	assert.Equal(t, "kro.run", crd.Spec.Group)
	assert.Equal(t, apiextensionsv1.NamespaceScoped, crd.Spec.Scope, "scope defaults to Namespaced")
	assert.Nil(t, crd.Annotations)
	assertGolden(t, "minimal.yaml", crd)
}

func TestGenerateIsDeterministicAndLeavesInputAlone(t *testing.T) {
	in := cartsStackInput()
	before := in.Status.DeepCopy()
	specBefore := in.Spec.DeepCopy()

	first, err := Generate(in)
	require.NoError(t, err)
	second, err := Generate(in)
	require.NoError(t, err)

	a, err := yaml.Marshal(first)
	require.NoError(t, err)
	b, err := yaml.Marshal(second)
	require.NoError(t, err)
	assert.Equal(t, string(a), string(b))
	assert.Equal(t, before, in.Status, "Generate must not add state/conditions to the caller's status schema")
	assert.Equal(t, specBefore, in.Spec)

	// The output shares no memory with the input.
	first.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["image"].Default.Raw[0] = 'X'
	assert.Equal(t, specBefore, in.Spec)
}

func TestPlural(t *testing.T) {
	for kind, want := range map[string]string{
		"CartsStack":  "cartsstacks",
		"Policy":      "policies",
		"WebApp":      "webapps",
		"Database":    "databases",
		"Index":       "indices",
		"CustomClass": "customclasses",
	} {
		assert.Equal(t, want, Plural(kind), kind)
	}
	assert.Equal(t, "webapps.kro.run", CRDName("", "WebApp"))
	assert.Equal(t, "webapps.example.org", CRDName("example.org", "WebApp"))
}

func TestGenerateErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Input)
		want   []string // substrings of the aggregated error
	}{
		{
			name:   "kind missing",
			mutate: func(in *Input) { in.Kind = "" },
			want:   []string{"spec.schema.kind: Required value"},
		},
		{
			name:   "kind not UpperCamelCase",
			mutate: func(in *Input) { in.Kind = "cartsStack" },
			want:   []string{`spec.schema.kind: Invalid value: "cartsStack": must be UpperCamelCase`},
		},
		{
			name:   "bad version",
			mutate: func(in *Input) { in.Version = "1.0" },
			want:   []string{`spec.schema.apiVersion: Invalid value: "1.0"`},
		},
		{
			name:   "version missing",
			mutate: func(in *Input) { in.Version = "" },
			want:   []string{"spec.schema.apiVersion: Required value"},
		},
		{
			name:   "group without a dot",
			mutate: func(in *Input) { in.Group = "example" },
			want:   []string{`spec.schema.group: Invalid value: "example": must be a domain with at least one dot`},
		},
		{
			name:   "group not a DNS subdomain",
			mutate: func(in *Input) { in.Group = "Example.com" },
			want:   []string{`spec.schema.group: Invalid value: "Example.com"`},
		},
		{
			name:   "unknown scope",
			mutate: func(in *Input) { in.Scope = "Global" },
			want:   []string{`spec.schema.scope: Unsupported value: "Global": supported values: "Namespaced", "Cluster"`},
		},
		{
			name:   "spec not an object",
			mutate: func(in *Input) { in.Spec = &apiextensionsv1.JSONSchemaProps{Type: "string"} },
			want:   []string{`spec.schema.spec: Invalid value: "string"`},
		},
		{
			name: "status defines state and conditions",
			mutate: func(in *Input) {
				in.Status.Properties["state"] = apiextensionsv1.JSONSchemaProps{Type: "string"}
				in.Status.Properties["conditions"] = apiextensionsv1.JSONSchemaProps{Type: "string"}
			},
			want: []string{
				"spec.schema.status.state: Forbidden: status.state is reserved",
				"spec.schema.status.conditions: Forbidden: status.conditions is reserved",
			},
		},
		{
			name:   "status not an object",
			mutate: func(in *Input) { in.Status = &apiextensionsv1.JSONSchemaProps{Type: "array"} },
			want:   []string{`spec.schema.status: Invalid value: "array"`},
		},
		{
			name:   "bad and duplicate short names",
			mutate: func(in *Input) { in.ShortNames = []string{"cs", "CS", "cs"} },
			want: []string{
				`spec.schema.shortNames[1]: Invalid value: "CS"`,
				`spec.schema.shortNames[2]: Duplicate value: "cs"`,
			},
		},
		{
			name:   "bad category",
			mutate: func(in *Input) { in.Categories = []string{"my_stuff"} },
			want:   []string{`spec.schema.categories[0]: Invalid value: "my_stuff"`},
		},
		{
			name: "too many short names",
			mutate: func(in *Input) {
				in.ShortNames = nil
				for i := range 33 {
					in.ShortNames = append(in.ShortNames, "s"+string(rune('a'+i%26))+string(rune('a'+i/26)))
				}
			},
			want: []string{"spec.schema.shortNames: Too many: 33: must have at most 32 items"},
		},
		{
			name:   "reserved label",
			mutate: func(in *Input) { in.Labels = map[string]string{LabelRGDName: "other"} },
			want:   []string{"spec.schema.metadata.labels[kro.run/resource-graph-definition-name]: Forbidden"},
		},
		{
			name: "invalid label and annotation keys",
			mutate: func(in *Input) {
				in.Labels = map[string]string{"bad key": "v"}
				in.Annotations = map[string]string{"": "v"}
			},
			want: []string{"spec.schema.metadata.labels: Invalid value: \"bad key\"", "spec.schema.metadata.annotations: Invalid value: \"\""},
		},
		{
			name:   "rgd name missing",
			mutate: func(in *Input) { in.RGDName = "" },
			want:   []string{"metadata.name: Required value"},
		},
		{
			name: "printer column the API server rejects",
			mutate: func(in *Input) {
				in.PrinterColumns = []apiextensionsv1.CustomResourceColumnDefinition{{Name: "X", Type: "color", JSONPath: ".spec.x"}}
			},
			want: []string{`spec.schema.additionalPrinterColumns[0].type: Invalid value: "color"`, "generated CRD cartsstacks.kro.run is invalid"},
		},
		{
			name: "default that does not match its type",
			mutate: func(in *Input) {
				in.Spec.Properties["replicas"] = apiextensionsv1.JSONSchemaProps{Type: "integer", Default: jsonRaw(`"one"`)}
			},
			want: []string{`spec.schema.spec.replicas.default: Invalid value: "string": generated CRD cartsstacks.kro.run is invalid: in body must be of type integer`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := cartsStackInput()
			tt.mutate(&in)
			crd, err := Generate(in)
			require.Error(t, err)
			assert.Nil(t, crd)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestGenerateReportsEveryProblemAtOnce(t *testing.T) {
	_, err := Generate(Input{Kind: "lower", Version: "x", Scope: "Nowhere", ShortNames: []string{"A"}})
	require.Error(t, err)
	for _, w := range []string{"spec.schema.kind", "spec.schema.apiVersion", "spec.schema.scope", "spec.schema.shortNames[0]", "metadata.name"} {
		assert.Contains(t, err.Error(), w)
	}
}

func ptr[T any](v T) *T { return &v }

func TestGenerateAcceptsWhatSimpleSchemaAndInferenceProduce(t *testing.T) {
	in := cartsStackInput()
	in.Spec.Properties["tableName"] = apiextensionsv1.JSONSchemaProps{
		Type: "string",
		XValidations: apiextensionsv1.ValidationRules{
			{Rule: "self == oldSelf", Message: "field is immutable"},
		},
	}
	in.Spec.Properties["ports"] = apiextensionsv1.JSONSchemaProps{
		Type:         "array",
		XListType:    ptr("map"),
		XListMapKeys: []string{"name"},
		Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{
			Type: "object", Required: []string{"name"},
			Properties: map[string]apiextensionsv1.JSONSchemaProps{"name": {Type: "string"}},
		}},
	}
	// A status field typed dyn becomes a schemaless field.
	in.Status.Properties["raw"] = apiextensionsv1.JSONSchemaProps{XPreserveUnknownFields: ptr(true)}
	_, err := Generate(in)
	require.NoError(t, err)
}

func TestGenerateRejectsInvalidCELRule(t *testing.T) {
	in := cartsStackInput()
	in.Spec.Properties["tableName"] = apiextensionsv1.JSONSchemaProps{
		Type:         "string",
		XValidations: apiextensionsv1.ValidationRules{{Rule: "self.size() >", Message: "broken"}},
	}
	_, err := Generate(in)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "spec.schema.spec.tableName.x-kubernetes-validations[0].rule")
}

// TestBuildIsGenerateWithoutValidation checks that Build gives exactly
// Generate's CRD, still checks its input, and leaves the API server's
// validation of the result to Generate.
func TestBuildIsGenerateWithoutValidation(t *testing.T) {
	generated, err := Generate(cartsStackInput())
	require.NoError(t, err)
	built, err := Build(cartsStackInput())
	require.NoError(t, err)
	assert.Equal(t, generated, built)

	_, err = Build(Input{Kind: "lower", Version: "x"})
	require.Error(t, err, "the input is checked")

	in := cartsStackInput()
	in.Spec.Properties["tableName"] = apiextensionsv1.JSONSchemaProps{
		Type:         "string",
		XValidations: apiextensionsv1.ValidationRules{{Rule: "self.size() >", Message: "broken"}},
	}
	_, err = Build(in)
	require.NoError(t, err, "only Generate runs the API server's validation")
}
