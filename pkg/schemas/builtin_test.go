package schemas

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// prop walks properties (and "[]" for array items) of a schema.
func prop(t *testing.T, s *spec.Schema, path ...string) *spec.Schema {
	t.Helper()
	cur := s
	for i, p := range path {
		require.NotNil(t, cur, "nil schema before %v", path[:i+1])
		if p == "[]" {
			require.NotNil(t, cur.Items, "no items at %v", path[:i+1])
			require.NotNil(t, cur.Items.Schema, "no items schema at %v", path[:i+1])
			cur = cur.Items.Schema
			continue
		}
		next, ok := cur.Properties[p]
		require.True(t, ok, "no property %v", path[:i+1])
		cur = &next
	}
	return cur
}

func TestBuiltinResolvesKinds(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		gvk        schema.GroupVersionKind
		resource   string
		namespaced bool
	}{
		{schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, "configmaps", true},
		{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, "deployments", true},
		{schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, "namespaces", false},
		{schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}, "clusterroles", false},
		{schema.GroupVersionKind{Version: "v1", Kind: "Service"}, "services", true},
		{schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}, "customresourcedefinitions", false},
	}
	for _, tt := range tests {
		t.Run(tt.gvk.String(), func(t *testing.T) {
			r, err := Builtin().Resolve(ctx, tt.gvk)
			require.NoError(t, err)
			assert.Equal(t, tt.gvk, r.GVK)
			assert.Equal(t, tt.gvk.GroupVersion().WithResource(tt.resource), r.Resource)
			assert.Equal(t, tt.namespaced, r.Namespaced)
			require.NotNil(t, r.Schema)
			assert.Equal(t, spec.StringOrArray{"string"}, prop(t, r.Schema, "apiVersion").Type)
			assert.Equal(t, spec.StringOrArray{"string"}, prop(t, r.Schema, "kind").Type)
			assert.Equal(t, spec.StringOrArray{"string"}, prop(t, r.Schema, "metadata", "name").Type)
			assert.Equal(t, spec.StringOrArray{"string"}, prop(t, r.Schema, "metadata", "labels").AdditionalProperties.Schema.Type)
		})
	}
}

func TestBuiltinDeploymentSchemaIsInlined(t *testing.T) {
	r, err := Builtin().Resolve(context.Background(), schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
	require.NoError(t, err)
	containers := prop(t, r.Schema, "spec", "template", "spec", "containers")
	assert.Equal(t, spec.StringOrArray{"array"}, containers.Type)
	c := prop(t, containers, "[]")
	assert.Equal(t, spec.StringOrArray{"string"}, prop(t, c, "name").Type)
	assert.Equal(t, spec.StringOrArray{"string"}, prop(t, c, "image").Type)
	assert.Equal(t, spec.StringOrArray{"integer"}, prop(t, c, "ports", "[]", "containerPort").Type)
	assert.Equal(t, spec.StringOrArray{"integer"}, prop(t, r.Schema, "spec", "replicas").Type)
	assert.Equal(t, spec.StringOrArray{"integer"}, prop(t, r.Schema, "status", "availableReplicas").Type)
	assertNoRefs(t, r.Schema, "Deployment")
}

func assertNoRefs(t *testing.T, s *spec.Schema, path string) {
	t.Helper()
	if s == nil {
		return
	}
	if s.Ref.GetURL() != nil {
		t.Fatalf("$ref %s left at %s", s.Ref.String(), path)
	}
	for _, a := range s.AllOf {
		if a.Ref.GetURL() != nil {
			t.Fatalf("allOf $ref %s left at %s", a.Ref.String(), path)
		}
	}
	for k, p := range s.Properties {
		assertNoRefs(t, &p, path+"."+k)
	}
	if s.Items != nil {
		assertNoRefs(t, s.Items.Schema, path+"[]")
	}
	if s.AdditionalProperties != nil {
		assertNoRefs(t, s.AdditionalProperties.Schema, path+"{}")
	}
}

func TestBuiltinNotFound(t *testing.T) {
	ctx := context.Background()
	for _, gvk := range []schema.GroupVersionKind{
		{Version: "v1", Kind: "NoSuchKind"},
		{Group: "apps", Version: "v1beta9", Kind: "Deployment"},
		{Group: "dynamodb.services.k8s.aws", Version: "v1alpha1", Kind: "Table"},
		{Version: "v1", Kind: "ConfigMapList"}, // a schema, but no REST resource
	} {
		_, err := Builtin().Resolve(ctx, gvk)
		require.ErrorIs(t, err, ErrNotFound, gvk.String())
		assert.Contains(t, err.Error(), gvk.Kind)
	}
}

func TestBuiltinResolveIsMemoised(t *testing.T) {
	gvk := schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	a, err := Builtin().Resolve(context.Background(), gvk)
	require.NoError(t, err)
	b, err := Builtin().Resolve(context.Background(), gvk)
	require.NoError(t, err)
	assert.Same(t, a, b)
}

func TestObjectMetaSchema(t *testing.T) {
	om, err := objectMetaSchema()
	require.NoError(t, err)
	for _, p := range []string{"name", "namespace", "labels", "annotations", "uid", "ownerReferences", "generateName"} {
		assert.Contains(t, om.Properties, p)
	}
	assertNoRefs(t, om, "metadata")
}

// TestParsedDocumentsHoldNoProse checks that the schemas kept in memory lose
// their descriptions (most of a served OpenAPI document's bytes) and keep
// what typing and validation read.
func TestParsedDocumentsHoldNoProse(t *testing.T) {
	gv := schema.GroupVersion{Group: "example.com", Version: "v1"}
	doc := `{"components":{"schemas":{
	  "com.example.v1.Widget":{"type":"object","description":"A widget.","title":"Widget",
	    "x-kubernetes-group-version-kind":[{"group":"example.com","version":"v1","kind":"Widget"}],
	    "properties":{
	      "spec":{"type":"object","description":"The spec.","properties":{
	        "size":{"type":"integer","format":"int32","description":"How big.","example":3},
	        "parts":{"type":"array","description":"Parts.","x-kubernetes-list-type":"set",
	          "items":{"type":"string","description":"One part.","enum":["a","b"]}},
	        "tags":{"type":"object","additionalProperties":{"type":"string","description":"A tag."}},
	        "ref":{"description":"Inner.","allOf":[{"$ref":"#/components/schemas/com.example.v1.Inner"}]}}}}},
	  "com.example.v1.Inner":{"type":"object","description":"Inner.","properties":{"name":{"type":"string","description":"Its name."}}}}}}`
	d, err := newGVDocument(gv, []byte(doc), map[string]restMapping{"Widget": {resource: "widgets", namespaced: true}})
	require.NoError(t, err)
	r, err := d.resolve("Widget")
	require.NoError(t, err)

	var walk func(path string, s *spec.Schema)
	walk = func(path string, s *spec.Schema) {
		if s == nil {
			return
		}
		assert.Empty(t, s.Description, "description at %s", path)
		assert.Empty(t, s.Title, "title at %s", path)
		assert.Nil(t, s.Example, "example at %s", path)
		for k, p := range s.Properties {
			walk(path+"."+k, &p)
		}
		for i := range s.AllOf {
			walk(path+".allOf", &s.AllOf[i])
		}
		if s.Items != nil {
			walk(path+"[]", s.Items.Schema)
		}
		if s.AdditionalProperties != nil {
			walk(path+"{}", s.AdditionalProperties.Schema)
		}
	}
	walk("Widget", r.Schema)
	for _, c := range d.components {
		walk("component", c)
	}
	assert.Equal(t, "int32", prop(t, r.Schema, "spec", "size").Format)
	parts := prop(t, r.Schema, "spec", "parts")
	assert.Equal(t, "set", parts.Extensions["x-kubernetes-list-type"], "extensions are kept")
	assert.Len(t, prop(t, parts, "[]").Enum, 2, "enums are kept")
}
