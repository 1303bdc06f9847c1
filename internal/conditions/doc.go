// Package conditions is how rgd writes status conditions, on
// ResourceGraphDefinitions and on instances alike, following the Kubernetes
// API conventions: a condition is set through a named transition (True,
// False, Unknown) with a CamelCase reason and a message for humans; its
// lastTransitionTime changes only when its status flips; every condition
// set carries the generation it was computed for; and a Ready condition is
// aggregated from the conditions that make it.
//
// A Set is the conditions of one object's next status. New starts an empty
// list (the object's conditions are exactly those set), Edit starts from the
// object's current list (conditions not set are kept, in place); both take
// the transition times of the current conditions into account.
package conditions
