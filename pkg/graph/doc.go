// Package graph is rgd's compiler: it turns a ResourceGraphDefinition into an
// immutable, type-checked Graph.
//
// Compile validates every rule kro enforces (ids, kinds, templates, scopes,
// forEach, externalRef, status), converts the SimpleSchema into the instance
// CRD, resolves the schema of every resource kind, compiles every ${...}
// expression once against typed variables, extracts dependencies from the
// expressions' ASTs and orders the resources topologically (ties broken by
// declaration order). Every problem is reported at once, as an ErrorList whose
// entries name the RGD, the resource id, the field path and the expression.
//
// Compilations share a bounded Cache (DefaultCache unless Options name one):
// parsed expressions, typed CEL environments with the expressions checked in
// them, SimpleSchemas, decoded templates and validated CRDs, each reused only
// for identical inputs, so that recompiling an RGD costs a fraction of its
// first compilation.
package graph
