// Package crdgen turns the schema of a ResourceGraphDefinition into the
// CustomResourceDefinition of its instances, and compares two such CRDs.
//
// Generate builds the instance CRD the way kro does: name <plural>.<group>,
// one served and stored version, a status subresource, the reserved
// status.state and status.conditions fields, kro's default printer columns
// and the ownership labels. Compare classifies every difference between the
// schemas of two CRDs as breaking or not, using kro's list of change types, so
// that the engine can refuse an RGD update that would invalidate instances.
package crdgen
