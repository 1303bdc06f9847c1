// Package devcluster runs a real, local Kubernetes control plane for rgd's
// integration tests and for `rgd dev`.
//
// Start launches etcd and kube-apiserver on free loopback ports (and, when
// asked, kube-controller-manager, kube-scheduler and kwok with one fake
// node), waits until the API server is ready and writes a kubeconfig.
// Stop ends every process it started and removes its temporary state.
//
// The binaries are built from Go modules by hack/control-plane.sh (`make
// control-plane`) into ${XDG_CACHE_HOME:-$HOME/.cache}/rgd/k8s-v1.37.2/;
// RGD_K8S_BINARIES=DIR points at binaries that already exist elsewhere.
package devcluster
