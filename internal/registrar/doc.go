// Package registrar serves the kind an RGD generates: it creates or updates
// the CustomResourceDefinition of the kind's instances, refuses to touch a
// CRD that rgd did not create or that another RGD owns, refuses a breaking
// schema change unless the RGD allows it, and waits until the API server has
// accepted the names and established the CRD. It also deletes a CRD, but only
// one that the given RGD owns.
//
// Writes are plain Updates carrying the resourceVersion that was read
// (optimistic concurrency), repeated on a conflict after a fresh read and a
// fresh ownership and compatibility check. Update rather than server-side
// apply keeps fields that other tools set on the CRD (labels, annotations,
// conversion settings) and lets Ensure write nothing at all when the CRD
// already matches.
package registrar
