// Package schemas answers, for a kind an RGD creates, its OpenAPI schema and
// its REST mapping (resource name, namespaced or cluster-scoped).
//
// Three sources implement Resolver and can be combined with Chain:
//   - Builtin: the built-in kinds of Kubernetes, captured from a real API
//     server and embedded in the binary (package builtin), so that
//     validation works offline;
//   - FromCRDs / LoadCRDFiles: CustomResourceDefinitions given by the user;
//   - Discovery: a live cluster's OpenAPI v3 and discovery, fetched per
//     group-version on demand and kept in a bounded LRU cache.
//
// Every resolved schema has all $refs inlined, string apiVersion and kind
// properties and a full ObjectMeta under metadata, so it can type CEL.
package schemas
