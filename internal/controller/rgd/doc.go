// Package rgd is the ResourceGraphDefinition controller: it compiles each
// RGD, registers the generated CRD, hands the graph to the instance
// controller and writes kro's status (state, conditions, topological order).
// A failed recompile keeps the last good graph running; deleting an RGD waits
// until its instances are gone, so none is ever orphaned.
//
// The controller reaches the instance controller only through the Instances
// interface given in Deps, and subscribes through it to the news of
// instances gone. The status is written in status.go.
package rgd
