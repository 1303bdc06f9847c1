// Command chart renders rgd's Helm chart (charts/rgd) with Helm's own
// library into the files generated from it, and checks that they are up to
// date:
//
//	go run . -root ../..          # write them
//	go run . -root ../.. -check   # fail, naming the stale ones
//
// The generated files are the chart's copy of the ResourceGraphDefinition
// CRD (from crds/, which `make generate` writes) and the renderings listed
// in renderings: deploy/ (the chart's default rendering, which
// `kubectl apply` installs), deploy/impersonation/ (the least-privilege
// mode) and the narrowed-children golden the deploy tests apply. `make
// manifests` runs the first command; hack/verify-generated.sh the second.
//
// It is a module of its own so that Helm, and everything it brings, stays
// out of the engine's go.mod. Its tests render and lint the chart, check
// values.schema.json and that values.yaml and README.md describe every
// value.
package main
