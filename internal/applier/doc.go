// Package applier applies manifest documents to a cluster with server-side
// apply, mapping each kind to its REST resource through discovery. It waits,
// within a bound, for a kind that is not served yet (its CRD is still being
// created), and applies a CustomResourceDefinition only to wait until it is
// Established (registrar.WaitEstablished). `rgd dev` applies its examples
// through it.
package applier
