// Command bench is rgd's benchmark harness (`make bench`).
//
// It starts a local control plane (pkg/devcluster), builds and runs
// `rgd controller` as a separate process, and measures, in one run: creating N
// instances of a 4-resource RGD until all are ACTIVE, the same child objects
// created directly (the floor), an update propagated to every child, deletion
// until every child is gone, the engine's writes and CPU while idle, its
// resident memory, and the compiler's Go benchmarks. It prints a markdown
// table of measured value, target and pass/miss on stdout and writes the same
// table to --out; progress goes to stderr. See docs/performance.md.
package main
