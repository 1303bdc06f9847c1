package manifest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadMultiDocument(t *testing.T) {
	in := `# leading comment
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: a
---
# only a comment
---
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: demo
spec:
  schema:
    apiVersion: v1alpha1
    kind: Demo
`
	docs, err := Read(strings.NewReader(in), "x.yaml")
	require.NoError(t, err)
	require.Len(t, docs, 2)
	require.False(t, docs[0].IsRGD())
	require.True(t, docs[1].IsRGD())
	require.Equal(t, "x.yaml#4", docs[1].Source)
	rgd, err := docs[1].RGD()
	require.NoError(t, err)
	require.Equal(t, "Demo", rgd.Spec.Schema.Kind)
}

func TestRGDUnknownFieldIsAnError(t *testing.T) {
	in := `apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: demo
spec:
  schema:
    apiVersion: v1alpha1
    kind: Demo
  resourcez: []
`
	docs, err := Read(strings.NewReader(in), "x.yaml")
	require.NoError(t, err)
	_, err = docs[0].RGD()
	require.ErrorContains(t, err, `unknown field "resourcez"`)
}

func TestRGDWrongVersion(t *testing.T) {
	docs, err := Read(strings.NewReader("apiVersion: kro.run/v1\nkind: ResourceGraphDefinition\nmetadata: {name: x}\n"), "x.yaml")
	require.NoError(t, err)
	_, err = docs[0].RGD()
	require.ErrorContains(t, err, `apiVersion "kro.run/v1" is not supported`)
}

func TestReadInvalidYAML(t *testing.T) {
	_, err := Read(strings.NewReader("a: [\n"), "bad.yaml")
	require.ErrorContains(t, err, "bad.yaml")
}
