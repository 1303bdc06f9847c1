// Package render evaluates a compiled graph for one instance: it decides
// whether each resource is included, expands forEach collections, fills every
// ${...} value of a template from the instance and the observed state of the
// resources it depends on, checks readiness and projects the instance status.
//
// It is pure: values in, values out. Inputs that are not there yet (a field of
// a dependency that has no status yet) are reported as Pending, naming the
// resource, the field and the expression, never guessed.
package render
