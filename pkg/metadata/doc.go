// Package metadata is the one place that knows the labels, annotations,
// finalizers and field managers rgd puts on the objects it manages. The keys
// are kro's where kro has one, so that tools written for kro keep working.
package metadata
