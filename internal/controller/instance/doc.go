// Package instance is the instance controller: it turns every instance of a
// compiled graph into its live resources. Handlers only enqueue keys;
// workers read the instance and its children from informer caches, walk the
// graph in topological order applying each wave of ready resources in
// parallel, and write only what differs: a settled instance costs no API
// writes. An inventory on the instance records every child before it is
// created, so pruning and deletion never lose one, even across a crash.
//
// A pass reads in pass.go, decides in plan.go, writes children in apply.go,
// reads objects it does not own in external.go, prunes and deletes children
// in delete.go, finalizes a deleted instance in finalize.go and writes the
// status in status.go. Across passes, routes.go leads the events of objects
// instances read but do not own to those instances, and ownwrites.go is
// rgd's memory of its own writes, which stands in for caches that lag them.
package instance
