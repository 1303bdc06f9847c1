package v1alpha1

import (
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ResourceGraphDefinition describes a new kind (its schema, in SimpleSchema)
// and the graph of resources that every instance of that kind expands into.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=rgd
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="APIVERSION",type=string,JSONPath=`.spec.schema.apiVersion`
// +kubebuilder:printcolumn:name="KIND",type=string,JSONPath=`.spec.schema.kind`
// +kubebuilder:printcolumn:name="STATE",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="READY",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="TOPOLOGICALORDER",type=string,priority=1,JSONPath=`.status.topologicalOrder`
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type ResourceGraphDefinition struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the schema of the generated kind and its resources.
	// +required
	Spec ResourceGraphDefinitionSpec `json:"spec"`
	// Status is written by the engine.
	// +optional
	Status ResourceGraphDefinitionStatus `json:"status,omitempty"`
}

// ResourceGraphDefinitionSpec is the desired state of a ResourceGraphDefinition.
type ResourceGraphDefinitionSpec struct {
	// Schema defines the generated kind: its names, scope, spec fields
	// (SimpleSchema) and status fields (CEL expressions).
	// +required
	Schema *Schema `json:"schema"`
	// Resources are the templates and external references of the graph.
	// +optional
	Resources []*Resource `json:"resources,omitempty"`
}

// ResourceScope says whether instances of the generated kind are namespaced.
// +kubebuilder:validation:Enum=Namespaced;Cluster
type ResourceScope string

const (
	// ResourceScopeNamespaced makes instances namespaced (the default).
	ResourceScopeNamespaced ResourceScope = "Namespaced"
	// ResourceScopeCluster makes instances cluster-scoped.
	ResourceScopeCluster ResourceScope = "Cluster"
)

// Schema defines the kind that a ResourceGraphDefinition generates.
//
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.group) || (has(self.group) && self.group == oldSelf.group)",message="group is immutable"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.scope) || (has(self.scope) && self.scope == oldSelf.scope)",message="scope is immutable"
type Schema struct {
	// Kind is the name of the generated kind, in UpperCamelCase.
	// +required
	// +kubebuilder:validation:Pattern=`^[A-Z][a-zA-Z0-9]{0,62}$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="kind is immutable"
	Kind string `json:"kind"`
	// APIVersion is the version of the generated kind, such as v1alpha1.
	// +required
	// +kubebuilder:validation:Pattern=`^v[0-9]+(alpha[0-9]+|beta[0-9]+)?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="apiVersion is immutable"
	APIVersion string `json:"apiVersion"`
	// Group is the API group of the generated kind.
	// +optional
	// +kubebuilder:default=kro.run
	Group string `json:"group,omitempty"`
	// Scope says whether instances are namespaced or cluster-scoped.
	// +optional
	// +kubebuilder:default=Namespaced
	Scope ResourceScope `json:"scope,omitempty"`
	// Spec holds the instance's spec fields in SimpleSchema.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Spec runtime.RawExtension `json:"spec,omitempty"`
	// Types holds custom SimpleSchema types that Spec can use by name.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Types runtime.RawExtension `json:"types,omitempty"`
	// Status holds the instance's status fields; every leaf is a CEL expression.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Status runtime.RawExtension `json:"status,omitempty"`
	// AdditionalPrinterColumns replace the default printer columns of the
	// generated CRD (State, Ready, Age) when set.
	// +optional
	AdditionalPrinterColumns []extv1.CustomResourceColumnDefinition `json:"additionalPrinterColumns,omitempty"`
	// ShortNames of the generated kind.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	ShortNames []string `json:"shortNames,omitempty"`
	// Categories of the generated kind, such as "all".
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	Categories []string `json:"categories,omitempty"`
	// Metadata holds labels and annotations for the generated CRD (not for
	// instances).
	// +optional
	Metadata *CRDMetadata `json:"metadata,omitempty"`
}

// CRDMetadata holds labels and annotations applied to the generated CRD.
type CRDMetadata struct {
	// Labels added to the generated CRD.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations added to the generated CRD.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Resource is one node of the graph: a template that rgd creates and owns, or
// a reference to an object that exists outside the graph.
//
// +kubebuilder:validation:XValidation:rule="has(self.template) != has(self.externalRef)",message="exactly one of template or externalRef must be provided"
type Resource struct {
	// ID names the resource in CEL expressions, in lowerCamelCase.
	// +required
	// +kubebuilder:validation:MinLength=1
	ID string `json:"id"`
	// Template is the object to create; its string values may hold ${...}
	// CEL expressions.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Template *runtime.RawExtension `json:"template,omitempty"`
	// ExternalRef points at an existing object that the graph reads but never
	// writes or deletes.
	// +optional
	ExternalRef *ExternalRef `json:"externalRef,omitempty"`
	// ReadyWhen expressions must all be true before dependents proceed.
	// +optional
	ReadyWhen []string `json:"readyWhen,omitempty"`
	// IncludeWhen expressions must all be true for the resource to exist.
	// +optional
	IncludeWhen []string `json:"includeWhen,omitempty"`
	// ForEach expands the template once per element of the cartesian product
	// of its dimensions.
	// +optional
	ForEach []ForEachDimension `json:"forEach,omitempty"`
	// DeletionPolicy says what becomes of the resource's objects when rgd no
	// longer wants them: the instance is deleted, the resource leaves the
	// graph, includeWhen turns false or a collection shrinks. Delete (the
	// default) deletes them; Orphaned (or Detach, kro's earlier spelling)
	// leaves them in place and strips rgd's labels and annotations from
	// them. Only on templates.
	// +optional
	// +kubebuilder:validation:Enum=Delete;Orphaned;Detach
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
	// ExternalFields are dotted paths into the template, such as
	// spec.replicas, that rgd applies only until another field manager
	// writes them (an autoscaler, say): from then on rgd leaves them to it
	// and keeps the rest of the object in sync. Only on templates.
	// +optional
	ExternalFields []string `json:"externalFields,omitempty"`
}

// DeletionPolicy says whether rgd deletes the objects of a resource it no
// longer wants, or leaves them in place.
type DeletionPolicy string

const (
	// DeletionPolicyDelete deletes the objects (the default).
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphaned leaves the objects in place, released from rgd.
	DeletionPolicyOrphaned DeletionPolicy = "Orphaned"
	// DeletionPolicyDetach is kro's earlier spelling of Orphaned.
	DeletionPolicyDetach DeletionPolicy = "Detach"
)

// ForEachDimension maps one iterator name to a CEL expression returning a list.
// +kubebuilder:validation:MinProperties=1
// +kubebuilder:validation:MaxProperties=1
type ForEachDimension map[string]string

// ExternalRef points at an object by name, or at a set of objects by label
// selector.
type ExternalRef struct {
	// APIVersion of the referenced object.
	// +required
	APIVersion string `json:"apiVersion"`
	// Kind of the referenced object.
	// +required
	Kind string `json:"kind"`
	// Metadata says which object or objects to read.
	// +required
	Metadata ExternalRefMetadata `json:"metadata"`
}

// ExternalRefMetadata selects the referenced object by name or by labels.
// Exactly one of name or selector must be given: the compiler checks it (the
// schemaless selector is invisible to the API server's CEL rules).
type ExternalRefMetadata struct {
	// Name of the referenced object.
	// +optional
	Name string `json:"name,omitempty"`
	// Namespace of the referenced object; the instance's namespace when empty
	// for a name, all namespaces when empty for a selector.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Selector selects a list of objects by label: a LabelSelector
	// (matchLabels, matchExpressions; values may hold ${...}), or one ${...}
	// expression that returns one, evaluated at every reconcile.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	Selector *extv1.JSON `json:"selector,omitempty"`
}

// ResourceGraphDefinitionState is the state of a ResourceGraphDefinition.
type ResourceGraphDefinitionState string

const (
	// StateActive means the graph is accepted and its kind is served.
	StateActive ResourceGraphDefinitionState = "Active"
	// StateInactive means the graph was rejected or its kind is not served.
	StateInactive ResourceGraphDefinitionState = "Inactive"
)

// ResourceGraphDefinitionStatus is the observed state of a ResourceGraphDefinition.
type ResourceGraphDefinitionStatus struct {
	// State is Active when the graph is accepted, its kind is ready and the
	// controller for it runs.
	// +optional
	State ResourceGraphDefinitionState `json:"state,omitempty"`
	// TopologicalOrder lists resource ids in the order they are created.
	// +optional
	TopologicalOrder []string `json:"topologicalOrder,omitempty"`
	// Resources lists the dependencies of each resource that has any.
	// +optional
	Resources []ResourceInformation `json:"resources,omitempty"`
	// LastIssuedRevision is the highest graph revision issued so far.
	// +optional
	LastIssuedRevision int64 `json:"lastIssuedRevision,omitempty"`
	// ObservedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions describe the state in detail; Ready is the root condition.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []Condition `json:"conditions,omitempty"`
}

// ResourceInformation lists the dependencies of one resource.
type ResourceInformation struct {
	// ID of the resource.
	ID string `json:"id"`
	// Dependencies of the resource.
	// +optional
	Dependencies []Dependency `json:"dependencies,omitempty"`
}

// Dependency names a resource another depends on.
type Dependency struct {
	// ID of the resource depended on.
	ID string `json:"id"`
}

// ConditionType names a condition.
type ConditionType string

// Condition is one aspect of an object's state, as kro writes it.
type Condition struct {
	// Type of the condition.
	Type ConditionType `json:"type"`
	// Status is True, False or Unknown.
	Status metav1.ConditionStatus `json:"status"`
	// LastTransitionTime is when Status last changed.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
	// Reason is a CamelCase word for the last transition.
	// +optional
	Reason *string `json:"reason,omitempty"`
	// Message says what happened, for humans.
	// +optional
	Message *string `json:"message,omitempty"`
	// ObservedGeneration is the generation the condition was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// ResourceGraphDefinitionList is a list of ResourceGraphDefinitions.
//
// +kubebuilder:object:root=true
type ResourceGraphDefinitionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items of the list.
	Items []ResourceGraphDefinition `json:"items"`
}
