// Package progress reads how far ResourceGraphDefinitions and their
// instances have come, and shows it.
//
// A Reader reads an RGD into the typed API (v1alpha1), and an instance and
// its children (found through the inventory the instance controller keeps
// on the instance) into a typed snapshot: []RGD. Render turns a snapshot
// into display lines, and a Printer shows successive renderings, redrawn in
// place on a terminal or as plain lines printed when they change.
// WaitActive and Watch poll the cluster until RGDs are Active and instances
// settle. `rgd dev` shows its example's progress with them; the snapshot
// does not depend on how it is shown, so that a status command can reuse it.
package progress
