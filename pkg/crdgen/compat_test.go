package crdgen

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

type props = map[string]apiextensionsv1.JSONSchemaProps

// crdWithSpec returns a one-version CRD whose instances' spec has schema spec.
func crdWithSpec(spec apiextensionsv1.JSONSchemaProps) *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "kro.run",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: "App", Plural: "apps"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1alpha1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type:       "object",
					Properties: props{"spec": spec},
				}},
			}},
		},
	}
}

func object(p props, required ...string) apiextensionsv1.JSONSchemaProps {
	return apiextensionsv1.JSONSchemaProps{Type: "object", Properties: p, Required: required}
}

func str() apiextensionsv1.JSONSchemaProps { return apiextensionsv1.JSONSchemaProps{Type: "string"} }

// with returns a string field changed by f.
func with(f func(*apiextensionsv1.JSONSchemaProps)) apiextensionsv1.JSONSchemaProps {
	s := str()
	f(&s)
	return s
}

func enum(values ...string) []apiextensionsv1.JSON {
	out := make([]apiextensionsv1.JSON, 0, len(values))
	for _, v := range values {
		out = append(out, apiextensionsv1.JSON{Raw: []byte(v)})
	}
	return out
}

func change(path string, t ChangeType, oldV, newV string) Change {
	return Change{Path: path, Type: t, Old: oldV, New: newV, Breaking: t.IsBreaking()}
}

func TestCompareSchemaChanges(t *testing.T) {
	f := func(mod func(*apiextensionsv1.JSONSchemaProps)) props { return props{"f": with(mod)} }
	none := func(*apiextensionsv1.JSONSchemaProps) {}
	min := func(v float64) func(*apiextensionsv1.JSONSchemaProps) {
		return func(s *apiextensionsv1.JSONSchemaProps) { s.Minimum = ptr(v) }
	}
	max := func(v float64) func(*apiextensionsv1.JSONSchemaProps) {
		return func(s *apiextensionsv1.JSONSchemaProps) { s.Maximum = ptr(v) }
	}
	minLen := func(v int64) func(*apiextensionsv1.JSONSchemaProps) {
		return func(s *apiextensionsv1.JSONSchemaProps) { s.MinLength = ptr(v) }
	}
	maxLen := func(v int64) func(*apiextensionsv1.JSONSchemaProps) {
		return func(s *apiextensionsv1.JSONSchemaProps) { s.MaxLength = ptr(v) }
	}
	minItems := func(v int64) func(*apiextensionsv1.JSONSchemaProps) {
		return func(s *apiextensionsv1.JSONSchemaProps) { s.MinItems = ptr(v) }
	}
	maxItems := func(v int64) func(*apiextensionsv1.JSONSchemaProps) {
		return func(s *apiextensionsv1.JSONSchemaProps) { s.MaxItems = ptr(v) }
	}
	pattern := func(p string) func(*apiextensionsv1.JSONSchemaProps) {
		return func(s *apiextensionsv1.JSONSchemaProps) { s.Pattern = p }
	}
	enumOf := func(v ...string) func(*apiextensionsv1.JSONSchemaProps) {
		return func(s *apiextensionsv1.JSONSchemaProps) { s.Enum = enum(v...) }
	}
	def := func(raw string) func(*apiextensionsv1.JSONSchemaProps) {
		return func(s *apiextensionsv1.JSONSchemaProps) { s.Default = jsonRaw(raw) }
	}

	tests := []struct {
		name     string
		old, new apiextensionsv1.JSONSchemaProps
		want     []Change
	}{
		{"no change", object(f(min(1))), object(f(min(1))), nil},

		// Properties and types.
		{"property removed", object(props{"a": str(), "b": str()}), object(props{"a": str()}),
			[]Change{change("spec.b", PropertyRemoved, "string", "")}},
		{"property added", object(props{"a": str()}), object(props{"a": str(), "b": {Type: "integer"}}),
			[]Change{change("spec.b", PropertyAdded, "", "integer")}},
		{"type changed hides the rest", object(f(pattern("^a$"))), object(props{"f": {Type: "integer"}}),
			[]Change{change("spec.f", TypeChanged, "string", "integer")}},
		{"type added to a schemaless field", object(props{"f": {XPreserveUnknownFields: ptr(true)}}), object(f(none)),
			[]Change{change("spec.f", TypeChanged, "any", "string")}},

		// Required.
		{"required added", object(f(none)), object(f(none), "f"),
			[]Change{change("spec.f", RequiredAdded, "optional", "required")}},
		{"required added with a new property", object(props{}), object(f(none), "f"),
			[]Change{change("spec.f", PropertyAdded, "", "string"), change("spec.f", RequiredAdded, "optional", "required")}},
		{"required removed", object(f(none), "f"), object(f(none)),
			[]Change{change("spec.f", RequiredRemoved, "required", "optional")}},
		{"required property removed is reported once", object(f(none), "f"), object(props{}),
			[]Change{change("spec.f", PropertyRemoved, "string", "")}},

		// Defaults and descriptions.
		{"required default removed", object(f(def(`"x"`)), "f"), object(f(none), "f"),
			[]Change{change("spec.f", RequiredDefaultRemoved, `"x"`, "")}},
		{"optional default removed", object(f(def(`"x"`))), object(f(none)),
			[]Change{change("spec.f", DefaultChanged, `"x"`, "")}},
		{"default added", object(f(none), "f"), object(f(def(`"x"`)), "f"),
			[]Change{change("spec.f", DefaultChanged, "", `"x"`)}},
		{"default changed", object(f(def(`"x"`)), "f"), object(f(def(`"y"`)), "f"),
			[]Change{change("spec.f", DefaultChanged, `"x"`, `"y"`)}},
		{"same default written differently", object(props{"o": {Type: "object", Default: jsonRaw(`{"b":1, "a":2}`)}}),
			object(props{"o": {Type: "object", Default: jsonRaw(`{"a":2,"b":1}`)}}), nil},
		{"description changed", object(f(func(s *apiextensionsv1.JSONSchemaProps) { s.Description = "old" })),
			object(f(func(s *apiextensionsv1.JSONSchemaProps) { s.Description = "new" })),
			[]Change{change("spec.f", DescriptionChanged, "old", "new")}},

		// Enums.
		{"enum added", object(f(none)), object(f(enumOf(`"a"`))),
			[]Change{change("spec.f", EnumRestricted, "", `["a"]`)}},
		{"enum value removed", object(f(enumOf(`"a"`, `"b"`))), object(f(enumOf(`"a"`))),
			[]Change{change("spec.f", EnumRestricted, `["a","b"]`, `["a"]`)}},
		{"enum value replaced", object(f(enumOf(`"a"`, `"b"`))), object(f(enumOf(`"a"`, `"c"`))),
			[]Change{change("spec.f", EnumRestricted, `["a","b"]`, `["a","c"]`)}},
		{"enum value added", object(f(enumOf(`"a"`))), object(f(enumOf(`"b"`, `"a"`))),
			[]Change{change("spec.f", EnumExpanded, `["a"]`, `["a","b"]`)}},
		{"enum removed", object(f(enumOf(`"a"`))), object(f(none)),
			[]Change{change("spec.f", EnumExpanded, `["a"]`, "")}},
		{"enum reordered", object(f(enumOf(`1`, `2`))), object(f(enumOf(`2`, `1`))), nil},

		// Patterns.
		{"pattern added", object(f(none)), object(f(pattern("^a$"))),
			[]Change{change("spec.f", PatternAdded, "", "^a$")}},
		{"pattern changed", object(f(pattern("^a$"))), object(f(pattern("^b$"))),
			[]Change{change("spec.f", PatternChanged, "^a$", "^b$")}},
		{"pattern removed", object(f(pattern("^a$"))), object(f(none)),
			[]Change{change("spec.f", PatternRemoved, "^a$", "")}},

		// Numeric bounds.
		{"minimum added", object(f(none)), object(f(min(1))), []Change{change("spec.f", MinimumAdded, "", "1")}},
		{"minimum increased", object(f(min(1))), object(f(min(2.5))), []Change{change("spec.f", MinimumIncreased, "1", "2.5")}},
		{"minimum decreased", object(f(min(1))), object(f(min(0))), []Change{change("spec.f", MinimumDecreased, "1", "0")}},
		{"minimum removed", object(f(min(1))), object(f(none)), []Change{change("spec.f", MinimumRemoved, "1", "")}},
		{"maximum added", object(f(none)), object(f(max(9))), []Change{change("spec.f", MaximumAdded, "", "9")}},
		{"maximum decreased", object(f(max(9))), object(f(max(8))), []Change{change("spec.f", MaximumDecreased, "9", "8")}},
		{"maximum increased", object(f(max(9))), object(f(max(10))), []Change{change("spec.f", MaximumIncreased, "9", "10")}},
		{"maximum removed", object(f(max(9))), object(f(none)), []Change{change("spec.f", MaximumRemoved, "9", "")}},

		// String lengths.
		{"minLength added", object(f(none)), object(f(minLen(1))), []Change{change("spec.f", MinLengthAdded, "", "1")}},
		{"minLength increased", object(f(minLen(1))), object(f(minLen(2))), []Change{change("spec.f", MinLengthIncreased, "1", "2")}},
		{"minLength decreased", object(f(minLen(2))), object(f(minLen(1))), []Change{change("spec.f", MinLengthDecreased, "2", "1")}},
		{"minLength removed", object(f(minLen(2))), object(f(none)), []Change{change("spec.f", MinLengthRemoved, "2", "")}},
		{"maxLength added", object(f(none)), object(f(maxLen(5))), []Change{change("spec.f", MaxLengthAdded, "", "5")}},
		{"maxLength decreased", object(f(maxLen(5))), object(f(maxLen(4))), []Change{change("spec.f", MaxLengthDecreased, "5", "4")}},
		{"maxLength increased", object(f(maxLen(5))), object(f(maxLen(6))), []Change{change("spec.f", MaxLengthIncreased, "5", "6")}},
		{"maxLength removed", object(f(maxLen(5))), object(f(none)), []Change{change("spec.f", MaxLengthRemoved, "5", "")}},

		// Array sizes.
		{"minItems added", object(f(none)), object(f(minItems(1))), []Change{change("spec.f", MinItemsAdded, "", "1")}},
		{"minItems increased", object(f(minItems(1))), object(f(minItems(3))), []Change{change("spec.f", MinItemsIncreased, "1", "3")}},
		{"minItems decreased", object(f(minItems(3))), object(f(minItems(1))), []Change{change("spec.f", MinItemsDecreased, "3", "1")}},
		{"minItems removed", object(f(minItems(3))), object(f(none)), []Change{change("spec.f", MinItemsRemoved, "3", "")}},
		{"maxItems added", object(f(none)), object(f(maxItems(4))), []Change{change("spec.f", MaxItemsAdded, "", "4")}},
		{"maxItems decreased", object(f(maxItems(4))), object(f(maxItems(2))), []Change{change("spec.f", MaxItemsDecreased, "4", "2")}},
		{"maxItems increased", object(f(maxItems(4))), object(f(maxItems(7))), []Change{change("spec.f", MaxItemsIncreased, "4", "7")}},
		{"maxItems removed", object(f(maxItems(4))), object(f(none)), []Change{change("spec.f", MaxItemsRemoved, "4", "")}},

		// Recursion.
		{"array items",
			object(props{"ports": {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: ptr(object(props{"name": str(), "port": {Type: "integer"}}))}}}),
			object(props{"ports": {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: ptr(object(props{"name": with(pattern("^[a-z]+$"))}, "name"))}}}),
			[]Change{
				change("spec.ports[*].name", PatternAdded, "", "^[a-z]+$"),
				change("spec.ports[*].name", RequiredAdded, "optional", "required"),
				change("spec.ports[*].port", PropertyRemoved, "integer", ""),
			}},
		{"map values",
			object(props{"labels": {Type: "object", AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: ptr(str())}}}),
			object(props{"labels": {Type: "object", AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: ptr(with(maxLen(63)))}}}),
			[]Change{change("spec.labels[*]", MaxLengthAdded, "", "63")}},
		{"nested objects, sorted by path",
			object(props{"z": object(props{"b": str(), "a": str()}), "a": str()}),
			object(props{"z": object(props{"c": str()}), "a": {Type: "boolean"}}),
			[]Change{
				change("spec.a", TypeChanged, "string", "boolean"),
				change("spec.z.a", PropertyRemoved, "string", ""),
				change("spec.z.b", PropertyRemoved, "string", ""),
				change("spec.z.c", PropertyAdded, "", "string"),
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Compare(crdWithSpec(tt.old), crdWithSpec(tt.new))
			assert.Equal(t, tt.want, r.Changes)
			wantBreaking := false
			for _, c := range tt.want {
				wantBreaking = wantBreaking || c.Breaking
			}
			assert.Equal(t, wantBreaking, r.HasBreaking())
		})
	}
}

func TestChangeTypeClassification(t *testing.T) {
	breaking := []ChangeType{
		PropertyRemoved, TypeChanged, RequiredAdded, EnumRestricted, PatternChanged, PatternAdded, RequiredDefaultRemoved,
		MinimumAdded, MinimumIncreased, MaximumAdded, MaximumDecreased,
		MinLengthAdded, MinLengthIncreased, MaxLengthAdded, MaxLengthDecreased,
		MinItemsAdded, MinItemsIncreased, MaxItemsAdded, MaxItemsDecreased,
		GroupChanged, KindChanged, ScopeChanged, VersionChanged, VersionRemoved,
	}
	safe := []ChangeType{
		PropertyAdded, DescriptionChanged, DefaultChanged, RequiredRemoved, EnumExpanded, PatternRemoved,
		MinimumRemoved, MinimumDecreased, MaximumRemoved, MaximumIncreased,
		MinLengthRemoved, MinLengthDecreased, MaxLengthRemoved, MaxLengthIncreased,
		MinItemsRemoved, MinItemsDecreased, MaxItemsRemoved, MaxItemsIncreased, VersionAdded,
	}
	for _, ct := range breaking {
		assert.True(t, ct.IsBreaking(), ct)
	}
	for _, ct := range safe {
		assert.False(t, ct.IsBreaking(), ct)
	}
}

func TestCompareIdentity(t *testing.T) {
	base := func() *apiextensionsv1.CustomResourceDefinition { return crdWithSpec(object(props{"a": str()})) }

	t.Run("group, kind and scope", func(t *testing.T) {
		n := base()
		n.Spec.Group = "example.org"
		n.Spec.Names.Kind = "Application"
		n.Spec.Scope = apiextensionsv1.ClusterScoped
		r := Compare(base(), n)
		assert.Equal(t, []Change{
			change("crd.spec.group", GroupChanged, "kro.run", "example.org"),
			change("crd.spec.names.kind", KindChanged, "App", "Application"),
			change("crd.spec.scope", ScopeChanged, "Namespaced", "Cluster"),
		}, r.Changes)
		assert.True(t, r.HasBreaking())
	})

	t.Run("version renamed, schemas still compared", func(t *testing.T) {
		n := base()
		n.Spec.Versions[0].Name = "v1beta1"
		n.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = object(props{})
		r := Compare(base(), n)
		assert.Equal(t, []Change{
			change("crd.spec.versions[v1alpha1].name", VersionChanged, "v1alpha1", "v1beta1"),
			change("spec.a", PropertyRemoved, "string", ""),
		}, r.Changes)
	})

	t.Run("several versions", func(t *testing.T) {
		o := base()
		o.Spec.Versions = append(o.Spec.Versions, *o.Spec.Versions[0].DeepCopy(), *o.Spec.Versions[0].DeepCopy())
		o.Spec.Versions[1].Name = "v1beta1"
		o.Spec.Versions[2].Name = "v1"
		n := o.DeepCopy()
		n.Spec.Versions = n.Spec.Versions[:2]
		n.Spec.Versions[1].Schema.OpenAPIV3Schema.Properties["spec"] = object(props{"a": str(), "b": str()})
		n.Spec.Versions = append(n.Spec.Versions, *n.Spec.Versions[0].DeepCopy(), *n.Spec.Versions[0].DeepCopy())
		n.Spec.Versions[2].Name = "v2"
		n.Spec.Versions[3].Name = "v3"
		r := Compare(o, n)
		assert.Equal(t, []Change{
			change("crd.spec.versions[v1]", VersionRemoved, "v1", ""),
			change("crd.spec.versions[v2]", VersionAdded, "", "v2"),
			change("crd.spec.versions[v3]", VersionAdded, "", "v3"),
			change("versions[v1beta1].spec.b", PropertyAdded, "", "string"),
		}, r.Changes)
	})

	t.Run("missing schema compares as empty", func(t *testing.T) {
		o := base()
		o.Spec.Versions[0].Schema = nil
		r := Compare(o, base())
		assert.Equal(t, []Change{
			change("<root>", TypeChanged, "any", "object"),
		}, r.Changes)
	})

	t.Run("nil CRDs", func(t *testing.T) {
		assert.Empty(t, Compare(nil, base()).Changes)
		assert.Empty(t, Compare(base(), nil).Changes)
	})
}

func TestCompareGeneratedCRDs(t *testing.T) {
	oldCRD, err := Generate(cartsStackInput())
	require.NoError(t, err)

	same, err := Generate(cartsStackInput())
	require.NoError(t, err)
	assert.Empty(t, Compare(oldCRD, same).Changes, "regenerating gives no changes")

	in := cartsStackInput()
	in.Spec.Properties["replicas"] = apiextensionsv1.JSONSchemaProps{Type: "integer", Default: jsonRaw("2"), Maximum: ptr(10.0)}
	in.Spec.Properties["logLevel"] = apiextensionsv1.JSONSchemaProps{Type: "string", Enum: enum(`"info"`, `"debug"`)}
	delete(in.Spec.Properties, "image")
	in.Status.Properties["tableArn"] = apiextensionsv1.JSONSchemaProps{Type: "string", Description: "ARN of the table"}
	in.ShortNames = []string{"cs"} // names are not part of the schema
	newCRD, err := Generate(in)
	require.NoError(t, err)

	r := Compare(oldCRD, newCRD)
	assert.Equal(t, []Change{
		change("spec.image", PropertyRemoved, "string", ""),
		change("spec.logLevel", PropertyAdded, "", "string"),
		change("spec.replicas", DefaultChanged, "1", "2"),
		change("spec.replicas", MaximumAdded, "", "10"),
		change("status.tableArn", DescriptionChanged, "", "ARN of the table"),
	}, r.Changes)
	assert.True(t, r.HasBreaking())
	assert.Equal(t, []Change{
		change("spec.image", PropertyRemoved, "string", ""),
		change("spec.replicas", MaximumAdded, "", "10"),
	}, r.BreakingChanges())
	assert.Equal(t, "spec.image: PROPERTY_REMOVED (was string)\nspec.replicas: MAXIMUM_ADDED (now 10)", r.String())
}

// A CRD generated before the default printer columns had kro's
// descriptions compares equal to today's: the registrar updates it without
// a breaking change.
func TestComparePrinterColumnDescriptionsAreNoChange(t *testing.T) {
	newCRD, err := Generate(cartsStackInput())
	require.NoError(t, err)
	oldCRD := newCRD.DeepCopy()
	columns := oldCRD.Spec.Versions[0].AdditionalPrinterColumns
	require.Len(t, columns, 3)
	for i := range columns {
		require.NotEmpty(t, columns[i].Description, columns[i].Name)
		columns[i].Description = ""
	}
	assert.Empty(t, Compare(oldCRD, newCRD).Changes)
}

func TestReportString(t *testing.T) {
	r := Report{Changes: []Change{
		change("spec.a", TypeChanged, "string", "integer"),
		change("spec.b", PropertyAdded, "", "string"),
		change("spec.c", RequiredAdded, "optional", "required"),
	}}
	assert.Equal(t, "spec.a: TYPE_CHANGED (string -> integer)\nspec.c: REQUIRED_ADDED (optional -> required)", r.String())
	assert.Equal(t, "", Report{Changes: []Change{change("spec.b", PropertyAdded, "", "string")}}.String())
	assert.False(t, Report{}.HasBreaking())
	assert.Equal(t, "x: KIND_CHANGED", Change{Path: "x", Type: KindChanged}.String())
}

func TestRGDFieldPath(t *testing.T) {
	for in, want := range map[string]string{
		"spec.validation.openAPIV3Schema.properties[spec].properties[ports].items.properties[name].pattern": "spec.schema.spec.ports[*].name.pattern",
		"spec.validation.openAPIV3Schema.properties[status].properties[m].additionalProperties.type":        "spec.schema.status.m[*].type",
		"spec.validation.openAPIV3Schema.type":      "spec.versions[0].schema.openAPIV3Schema.type",
		"spec.additionalPrinterColumns[1].jsonPath": "spec.schema.additionalPrinterColumns[1].jsonPath",
		"spec.names.shortNames[0]":                  "spec.schema.shortNames[0]",
		"metadata.name":                             "metadata.name",
	} {
		assert.Equal(t, want, rgdFieldPath(in), in)
	}
}
