// Package celenv builds the one CEL environment rgd uses to type-check and evaluate `${...}` expressions.
//
// NewBaseEnv holds the function libraries (cel-go extensions and the Kubernetes CEL libraries; extra
// libraries such as rgd's own are passed in as cel.EnvOptions). NewEnv adds typed variables built from
// OpenAPI schemas. Compile type-checks an expression, estimates its cost (Compiled.CostError reports an
// estimate above MaxEstimatedCost) and plans a program whose every call is bounded by PerCallCostLimit
// (EvalError says when an evaluation hit it). References and
// Inspect list the variables an expression reads; CheckAssignable and SchemaForType relate CEL types to
// OpenAPI schemas; Eval runs a program and returns plain Go values for unstructured objects.
package celenv
