// Package crds embeds the CustomResourceDefinitions of rgd's own API, generated
// from pkg/apis by `make generate`, so that programs can install them.
package crds

import (
	_ "embed"
	"fmt"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

//go:embed kro.run_resourcegraphdefinitions.yaml
var resourceGraphDefinitionsYAML []byte

// ResourceGraphDefinitionsYAML returns the CRD of kro.run/v1alpha1
// ResourceGraphDefinition as YAML.
func ResourceGraphDefinitionsYAML() []byte {
	return append([]byte(nil), resourceGraphDefinitionsYAML...)
}

// ResourceGraphDefinitions returns the CRD of kro.run/v1alpha1
// ResourceGraphDefinition.
func ResourceGraphDefinitions() (*extv1.CustomResourceDefinition, error) {
	crd := &extv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(resourceGraphDefinitionsYAML, crd); err != nil {
		return nil, fmt.Errorf("decoding the embedded ResourceGraphDefinition CRD: %w", err)
	}
	return crd, nil
}
