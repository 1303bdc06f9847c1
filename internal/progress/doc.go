// Package progress reads how far ResourceGraphDefinitions and their
// instances have come, and shows it.
//
// A Reader reads an RGD into the typed API (v1alpha1), and an instance and
// its children (found through the inventory the instance controller keeps
// on the instance) into a typed snapshot: []RGD. Render turns a snapshot
// into display lines, and a Printer shows successive renderings, redrawn in
// place on a terminal or as plain lines printed when they change.
// WaitActive and Watch poll the cluster until RGDs are Active and instances
// settle. `rgd dev` shows its example's progress with them.
//
// `rgd status` uses the same model. A Reader given schemas (WithSchemas,
// NewClusterReader) also compiles the instance's RGD against them and
// judges every resource as the instance controller would (judge.go):
// ready or not, and what it waits on (a dependency, a readyWhen
// expression, data, its creation, an external object) or why it is
// excluded. Resolve turns kubectl-style TYPE and NAME into a Target,
// Status reads it (an Instance, or an RGD with its instances counted by
// state), RenderStatus and EncodeStatus show it as text or as the JSON or
// YAML document (the Instance and RGD types, whose JSON field names are
// stable), and WatchStatus reads it again until interrupted.
package progress
