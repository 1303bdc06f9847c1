// Package deploy holds the manifests that run rgd in a cluster
// (`kubectl apply --server-side -k deploy/`): rgd.yaml, the Helm chart
// ../charts/rgd rendered with values.yaml by hack/chart (`make manifests`),
// with the CRD, namespace, service account, RBAC, Deployment and metrics
// Service; impersonation/ is the chart's least-privilege mode, in which rgd
// writes children only as the ServiceAccount each RGD names. There is no Go
// code here; the package's tests apply the renderings to a real API server
// and run the engine with exactly the permissions they grant, including a
// rendering whose values narrow the children's RBAC (testdata/).
package deploy
