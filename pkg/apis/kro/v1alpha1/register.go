package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of ResourceGraphDefinitions and, by default, of
// the kinds they generate.
const GroupName = "kro.run"

// SchemeGroupVersion is the group and version of the types in this package.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1alpha1"}

// ResourceGraphDefinitionResource is the REST resource of ResourceGraphDefinitions.
var ResourceGraphDefinitionResource = SchemeGroupVersion.WithResource("resourcegraphdefinitions")

// ResourceGraphDefinitionKind is the kind of ResourceGraphDefinitions.
var ResourceGraphDefinitionKind = SchemeGroupVersion.WithKind("ResourceGraphDefinition")

var (
	// SchemeBuilder registers the types of this package with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion, &ResourceGraphDefinition{}, &ResourceGraphDefinitionList{})
	metav1.AddToGroupVersion(scheme, SchemeGroupVersion)
	return nil
}
