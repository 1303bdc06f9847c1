// Package inventory is the record of the children an instance has: what the
// instance controller writes to the instance's rgd.dev/inventory annotation
// before it creates a child, and what deletion, pruning and progress
// displays read back. It needs no graph and no discovery, so an instance can
// always be cleaned up from it.
package inventory
