package simpleschema

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// TestAPIServerAcceptsSchemas puts each valid golden schema into a CRD and runs the API
// server's own CRD validation on it (structural schema, list types, CEL rules, defaults).
func TestAPIServerAcceptsSchemas(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "golden", "*.yaml"))
	require.NoError(t, err)
	for _, in := range inputs {
		src, err := os.ReadFile(in)
		require.NoError(t, err)
		var doc schemaDoc
		require.NoError(t, yaml.Unmarshal(src, &doc))
		spec, errs := ToOpenAPI(doc.Spec, doc.Types, Options{})
		if len(errs) > 0 {
			continue // the error goldens
		}
		t.Run(filepath.Base(in), func(t *testing.T) {
			crd := &apiextensionsv1.CustomResourceDefinition{
				ObjectMeta: metav1.ObjectMeta{Name: "things.kro.run"},
				Spec: apiextensionsv1.CustomResourceDefinitionSpec{
					Group: "kro.run",
					Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "things", Singular: "thing", Kind: "Thing", ListKind: "ThingList"},
					Scope: apiextensionsv1.NamespaceScoped,
					Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
						Name: "v1alpha1", Served: true, Storage: true,
						Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
							Type:       "object",
							Properties: map[string]apiextensionsv1.JSONSchemaProps{"spec": *spec},
						}},
					}},
				},
				Status: apiextensionsv1.CustomResourceDefinitionStatus{StoredVersions: []string{"v1alpha1"}},
			}
			apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(crd)
			internal := &apiextensions.CustomResourceDefinition{}
			require.NoError(t, apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(crd, internal, nil))
			assert.Empty(t, crdvalidation.ValidateCustomResourceDefinition(context.Background(), internal))
		})
	}
}
