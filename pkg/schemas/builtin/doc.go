// Package builtin holds the OpenAPI v3 schemas and REST mappings of every
// built-in group-version of Kubernetes, captured from a real kube-apiserver by
// hack/capture-openapi and embedded in the binary (one gzip file per
// group-version under data/, listed in data/manifest.json).
//
// The data is decoded lazily, one group-version at a time, so that a binary
// that never asks for a schema never holds the documents in memory. The same
// package defines the file format and the encoder the capture program uses,
// so what is embedded is exactly what the capture writes.
package builtin
