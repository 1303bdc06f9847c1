// Package deploy holds the manifests that run rgd in a cluster
// (`kubectl apply -k deploy/`): its namespace, service account, RBAC,
// Deployment and metrics Service (base/), with the CRDs of ../crds, and the
// RBAC of children; impersonation/ is the mode in which rgd writes children
// only as the ServiceAccount each RGD names. There is no Go
// code here; the package's tests apply the manifests to a real API server
// and run the engine with exactly the permissions they grant.
package deploy
