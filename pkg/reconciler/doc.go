// Package reconciler turns every instance of a compiled graph into its live
// resources. Handlers only enqueue keys; workers read the instance and its
// children from informer caches, walk the graph in topological order
// applying each wave of ready resources in parallel, and write only what
// differs: a settled instance costs no API writes. An inventory on the
// instance records every child before it is created, so pruning and deletion
// never lose one, even across a crash.
package reconciler
