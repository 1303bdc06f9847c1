// Package devexample finds and loads the example folders that `rgd dev`
// applies, and applies them in the order a cluster can take them: the
// CustomResourceDefinitions first (each waited for until Established), then
// the other prerequisites, then the ResourceGraphDefinitions and, once the
// engine serves their kinds, the instances.
package devexample
