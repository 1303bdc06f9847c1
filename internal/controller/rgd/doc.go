// Package rgd is the ResourceGraphDefinition controller: it compiles each
// RGD, registers the generated CRD, hands the graph to the instance
// controller and writes kro's status (state, conditions, topological order).
// A failed recompile keeps the last good graph running; deleting an RGD waits
// until its instances are gone, so none is ever orphaned.
package rgd
