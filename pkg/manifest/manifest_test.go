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
	require.EqualError(t, err, `rgd "demo": spec.resourcez: unknown field, did you mean "resources"?`)
}

func TestRGDWrongVersion(t *testing.T) {
	docs, err := Read(strings.NewReader("apiVersion: kro.run/v1\nkind: ResourceGraphDefinition\nmetadata: {name: x}\n"), "x.yaml")
	require.NoError(t, err)
	_, err = docs[0].RGD()
	require.EqualError(t, err, `rgd "x": apiVersion: "kro.run/v1" is not supported, expected kro.run/v1alpha1`)
}

func TestReadInvalidYAML(t *testing.T) {
	_, err := Read(strings.NewReader("a: [\n"), "bad.yaml")
	require.ErrorContains(t, err, "bad.yaml")
}

// TestRGDAsReadFromACluster decodes what kubectl get -o yaml prints: server
// fields, managed fields and a status are all known fields.
func TestRGDAsReadFromACluster(t *testing.T) {
	in := `apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: demo
  uid: 0b6f1b7e-7c55-4c7e-9a52-7d1f0e0d2b11
  resourceVersion: "42"
  generation: 3
  creationTimestamp: "2026-01-02T03:04:05Z"
  finalizers: [kro.run/finalizer]
  managedFields:
  - manager: kubectl
    operation: Apply
    apiVersion: kro.run/v1alpha1
    fieldsType: FieldsV1
    fieldsV1: {"f:spec": {}}
spec:
  schema:
    apiVersion: v1alpha1
    kind: Demo
    spec:
      replicas: integer | default=1
  resources:
  - id: config
    readyWhen: ["${config.data != null}"]
    forEach:
    - name: ${schema.spec.names}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${name}
status:
  state: Active
  topologicalOrder: [config]
  conditions:
  - type: Ready
    status: "True"
    reason: Ready
    lastTransitionTime: "2026-01-02T03:04:06Z"
`
	docs, err := Read(strings.NewReader(in), "x.yaml")
	require.NoError(t, err)
	rgd, err := docs[0].RGD()
	require.NoError(t, err)
	require.Equal(t, []string{"${config.data != null}"}, rgd.Spec.Resources[0].ReadyWhen)
	require.Equal(t, int64(3), rgd.Generation)
}
