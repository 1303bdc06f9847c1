package schemas

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

var tableGVK = schema.GroupVersionKind{Group: "dynamodb.services.k8s.aws", Version: "v1alpha1", Kind: "Table"}

func TestLoadCRDFilesTable(t *testing.T) {
	r, err := LoadCRDFiles(filepath.Join("testdata", "table-crd.yaml"))
	require.NoError(t, err)
	res, err := r.Resolve(context.Background(), tableGVK)
	require.NoError(t, err)
	assert.Equal(t, tableGVK, res.GVK)
	assert.Equal(t, schema.GroupVersionResource{Group: "dynamodb.services.k8s.aws", Version: "v1alpha1", Resource: "tables"}, res.Resource)
	assert.True(t, res.Namespaced)
	s := res.Schema
	require.NotNil(t, s)

	assert.Equal(t, spec.StringOrArray{"string"}, prop(t, s, "apiVersion").Type)
	assert.Equal(t, spec.StringOrArray{"string"}, prop(t, s, "kind").Type)
	// metadata: {type: object} in the CRD becomes the full ObjectMeta.
	assert.Equal(t, spec.StringOrArray{"string"}, prop(t, s, "metadata", "name").Type)
	assert.Equal(t, spec.StringOrArray{"string"}, prop(t, s, "metadata", "namespace").Type)
	assert.Contains(t, prop(t, s, "metadata").Properties, "ownerReferences")

	assert.Equal(t, []string{"tableName", "keySchema"}, prop(t, s, "spec").Required)
	assert.Equal(t, spec.StringOrArray{"string"}, prop(t, s, "spec", "tableName").Type)
	assert.Equal(t, spec.StringOrArray{"string"}, prop(t, s, "spec", "keySchema", "[]", "keyType").Type)
	assert.Equal(t, "int64", prop(t, s, "spec", "provisionedThroughput", "readCapacityUnits").Format)
	ios := prop(t, s, "spec", "provisionedThroughput", "writeCapacityUnits")
	v, ok := ios.Extensions.GetBool("x-kubernetes-int-or-string")
	assert.True(t, ok && v, "int-or-string kept")
	assert.Len(t, ios.AnyOf, 2, "int-or-string unfolded as the API server publishes it")

	extra := prop(t, s, "spec", "extra")
	v, ok = extra.Extensions.GetBool("x-kubernetes-preserve-unknown-fields")
	assert.True(t, ok && v, "preserve-unknown-fields stays")
	assert.Empty(t, extra.Properties)

	embedded := prop(t, s, "spec", "template")
	assert.Equal(t, spec.StringOrArray{"string"}, prop(t, embedded, "apiVersion").Type)
	assert.Equal(t, spec.StringOrArray{"string"}, prop(t, embedded, "metadata", "name").Type)

	assert.Equal(t, spec.StringOrArray{"string"}, prop(t, s, "status", "conditions", "[]", "status").Type)
	assertNoRefs(t, s, "Table")
}

func TestLoadCRDFilesMultiDocument(t *testing.T) {
	r, err := LoadCRDFiles(filepath.Join("testdata", "widgets-crd.yaml"), filepath.Join("testdata", "table-crd.yaml"))
	require.NoError(t, err)
	ctx := context.Background()

	w1, err := r.Resolve(ctx, schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"})
	require.NoError(t, err)
	assert.False(t, w1.Namespaced)
	assert.Equal(t, "widgets", w1.Resource.Resource)
	assert.Equal(t, spec.StringOrArray{"integer"}, prop(t, w1.Schema, "spec", "size").Type)

	w2, err := r.Resolve(ctx, schema.GroupVersionKind{Group: "example.com", Version: "v2", Kind: "Widget"})
	require.NoError(t, err)
	assert.Nil(t, w2.Schema, "a version without a schema is schemaless")

	_, err = r.Resolve(ctx, schema.GroupVersionKind{Group: "example.com", Version: "v0", Kind: "Widget"})
	require.ErrorIs(t, err, ErrNotFound, "unserved versions are not resolved")

	blob, err := r.Resolve(ctx, schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Blob"})
	require.NoError(t, err)
	v, ok := blob.Schema.Extensions.GetBool("x-kubernetes-preserve-unknown-fields")
	assert.True(t, ok && v)
	assert.Contains(t, blob.Schema.Properties, "metadata")

	_, err = r.Resolve(ctx, tableGVK)
	require.NoError(t, err)
	_, err = r.Resolve(ctx, schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"})
	require.ErrorIs(t, err, ErrNotFound)
}

func TestLoadCRDFilesErrors(t *testing.T) {
	notCRD := filepath.Join("testdata", "not-a-crd.yaml")
	bad := filepath.Join("testdata", "bad-crd.yaml")
	missing := filepath.Join("testdata", "no-such-file.yaml")
	_, err := LoadCRDFiles(notCRD, bad, missing)
	require.Error(t, err)
	msg := err.Error()
	// every problem of every file at once
	assert.Contains(t, msg, notCRD+`: document 2: expected kind CustomResourceDefinition of apiVersion apiextensions.k8s.io/v1, got kind "ConfigMap" of apiVersion "v1"`)
	assert.Contains(t, msg, bad+`: document 1: CustomResourceDefinition "broken.example.com"`)
	assert.Contains(t, msg, "spec.names.plural: Required value")
	assert.Contains(t, msg, `spec.scope: Unsupported value: "Galactic"`)
	assert.Contains(t, msg, "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value")
	assert.Contains(t, msg, missing)
	assert.NotErrorIs(t, err, ErrNotFound)
}

func TestLoadCRDFilesEmptyAndDuplicate(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.yaml")
	require.NoError(t, writeFile(empty, "---\n# nothing\n"))
	_, err := LoadCRDFiles(empty)
	require.ErrorContains(t, err, empty+": no CustomResourceDefinition in the file")

	table := filepath.Join("testdata", "table-crd.yaml")
	_, err = LoadCRDFiles(table, table)
	require.ErrorContains(t, err, "kind dynamodb.services.k8s.aws/v1alpha1, Kind=Table is already served by "+table+": document 1")
}

func TestFromCRDs(t *testing.T) {
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "things.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "example.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Kind: "Thing", Plural: "things"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"names": {Type: "array", Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{Type: "string"}}},
						}},
					},
				}},
			}},
		},
	}
	r, err := FromCRDs(crd)
	require.NoError(t, err)
	res, err := r.Resolve(context.Background(), schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Thing"})
	require.NoError(t, err)
	assert.Equal(t, spec.StringOrArray{"string"}, prop(t, res.Schema, "spec", "names", "[]").Type)
	assert.Equal(t, "object", crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Type, "input not modified")
	assert.NotContains(t, crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties, "metadata", "input not modified")

	_, err = FromCRDs(nil)
	require.ErrorContains(t, err, "nil")
}
