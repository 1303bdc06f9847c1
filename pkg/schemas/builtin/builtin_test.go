package builtin

import (
	"encoding/json"
	"io/fs"
	"path"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestEmbeddedDataIsACapture checks that the embedded data is exactly what
// hack/capture-openapi writes: the manifest is in EncodeManifest's form and
// records Kubernetes v1.37.x, every listed file exists under FileName's name,
// decodes, holds the group-version it is listed for, and re-encodes to the
// same bytes; and no other file lies in the directory.
func TestEmbeddedDataIsACapture(t *testing.T) {
	fsys := FS()
	raw, err := fs.ReadFile(fsys, ManifestFile)
	require.NoError(t, err)
	m, err := DecodeManifest(raw)
	require.NoError(t, err)
	again, err := EncodeManifest(m)
	require.NoError(t, err)
	assert.Equal(t, string(raw), string(again), "manifest is not in EncodeManifest's form: rerun go run ./hack/capture-openapi")

	assert.Regexp(t, `^v1\.37\.\d+$`, m.KubernetesVersion)
	assert.False(t, m.Descriptions, "descriptions are stripped to keep the data small")

	listed := map[string]bool{ManifestFile: true}
	total := 0
	for _, e := range m.GroupVersions {
		gv, err := schema.ParseGroupVersion(e.GroupVersion)
		require.NoError(t, err)
		assert.Equal(t, FileName(gv), e.File)
		listed[e.File] = true

		gz, err := fs.ReadFile(fsys, e.File)
		require.NoError(t, err, e.File)
		total += len(gz)
		d, err := Decode(gz)
		require.NoError(t, err, e.File)
		assert.Equal(t, e.GroupVersion, d.GroupVersion)
		assert.NotEmpty(t, d.Resources, e.File)
		for _, r := range d.Resources {
			assert.NotContains(t, r.Name, "/", "%s: subresources are not captured", e.File)
		}
		re, err := Encode(d)
		require.NoError(t, err)
		assert.Equal(t, gz, re, "%s is not what Encode writes", e.File)
	}
	assert.Less(t, total, 2<<20, "embedded data should stay under 2 MB")

	entries, err := fs.ReadDir(fsys, ".")
	require.NoError(t, err)
	for _, e := range entries {
		assert.True(t, listed[e.Name()], "%s is not listed in the manifest", path.Join("data", e.Name()))
	}
}

func TestEmbeddedHasCoreGroups(t *testing.T) {
	src, err := Embedded()
	require.NoError(t, err)
	for _, gv := range []string{"v1", "apps/v1", "batch/v1", "rbac.authorization.k8s.io/v1", "networking.k8s.io/v1", "apiextensions.k8s.io/v1"} {
		g, err := schema.ParseGroupVersion(gv)
		require.NoError(t, err)
		assert.True(t, src.Has(g), gv)
	}
	d, err := src.Load(schema.GroupVersion{Group: "apps", Version: "v1"})
	require.NoError(t, err)
	var names []string
	for _, r := range d.Resources {
		names = append(names, r.Name)
	}
	assert.True(t, sort.StringsAreSorted(names))
	assert.Contains(t, names, "deployments")

	_, err = src.Load(schema.GroupVersion{Group: "example.com", Version: "v1"})
	require.ErrorIs(t, err, fs.ErrNotExist)
}

func TestReduceOpenAPI(t *testing.T) {
	doc := []byte(`{"openapi":"3.0.0","paths":{"/api/v1/x":{}},"components":{"schemas":{
	  "A":{"description":"drop me","type":"object","properties":{
	    "description":{"type":"string","description":"a property named description stays"},
	    "list":{"type":"array","items":{"description":"x","type":"string"}},
	    "ref":{"allOf":[{"$ref":"#/components/schemas/B"}],"description":"y"}}},
	  "B":{"type":"string"}}}}`)
	out, err := ReduceOpenAPI(doc, false)
	require.NoError(t, err)
	assert.JSONEq(t, `{"components":{"schemas":{
	  "A":{"type":"object","properties":{
	    "description":{"type":"string"},
	    "list":{"type":"array","items":{"type":"string"}},
	    "ref":{"allOf":[{"$ref":"#/components/schemas/B"}]}}},
	  "B":{"type":"string"}}}}`, string(out))

	kept, err := ReduceOpenAPI(doc, true)
	require.NoError(t, err)
	var v map[string]any
	require.NoError(t, json.Unmarshal(kept, &v))
	assert.NotContains(t, v, "paths")
	assert.Contains(t, string(kept), "drop me")

	_, err = ReduceOpenAPI([]byte(`{"openapi":"3.0.0"}`), false)
	require.ErrorContains(t, err, "components.schemas")
	_, err = ReduceOpenAPI([]byte(`not json`), false)
	require.Error(t, err)
}

func TestDecodeErrors(t *testing.T) {
	_, err := Decode([]byte("not gzip"))
	require.ErrorContains(t, err, "decompressing")
	_, err = DecodeManifest([]byte(`{"groupVersions":[{"groupVersion":"v1","file":"../x"}]}`))
	require.ErrorContains(t, err, "groupVersions[0]")
}
