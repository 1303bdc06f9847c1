// Package engine is rgd's embeddable entry point. New builds an engine from a
// *rest.Config and Options; Start runs it until its context ends: it watches
// ResourceGraphDefinitions, compiles each one, serves the generated kind and
// reconciles every instance into its graph of resources.
//
// The offline functions Compile and Render need no cluster; the CLI uses them.
package engine
