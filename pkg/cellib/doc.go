// Package cellib holds rgd's own CEL function libraries: the functions kro adds on
// top of cel-go and the Kubernetes libraries (hash.*, json.*, random.*, map merge,
// lists.*AtIndex, omit() and the runtime.* condition helpers).
//
// Each group is one cel.Lib (Hash, JSON, Random, Maps, ListsIndex, Omit,
// Conditions); Library installs all of them. Every function carries a static cost
// estimate and a runtime cost tracker, and every input that could make a call run
// unbounded (JSON text, generated string length) is capped, so expressions stay
// within the cost limits the environment (pkg/celenv) enforces.
package cellib
