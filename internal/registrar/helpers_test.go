package registrar

import (
	"testing"

	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/rgd-dev/rgd/pkg/crdgen"
)

// specSchema builds the schema of an instance's spec from property names and
// types; required lists the required properties.
func specSchema(props map[string]string, required ...string) *apiextensionsv1.JSONSchemaProps {
	s := &apiextensionsv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{}, Required: required}
	for name, typ := range props {
		s.Properties[name] = apiextensionsv1.JSONSchemaProps{Type: typ}
	}
	return s
}

// genCRD generates the CRD of kind in group, owned by the RGD rgdName.
func genCRD(t *testing.T, group, kind, rgdName string, spec *apiextensionsv1.JSONSchemaProps, shortNames ...string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	crd, err := crdgen.Generate(crdgen.Input{
		Group:      group,
		Version:    "v1alpha1",
		Kind:       kind,
		Spec:       spec,
		ShortNames: shortNames,
		RGDName:    rgdName,
	})
	require.NoError(t, err)
	return crd
}
