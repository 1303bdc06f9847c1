// Package v1alpha1 holds the kro.run/v1alpha1 API types of rgd: the
// ResourceGraphDefinition, wire-compatible with kro's, and the instance state
// and condition names that rgd writes on the instances it manages.
//
// +kubebuilder:object:generate=true
// +groupName=kro.run
package v1alpha1
