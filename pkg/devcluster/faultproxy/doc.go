// Package faultproxy is a reverse proxy for tests that stands between a
// client (the engine) and a real kube-apiserver and makes the API server
// look unreliable: it answers a share of the requests with an injected 500
// or 429, loses the answer of a share of the writes after they were applied,
// and cuts every watch after a while.
//
// Every fault is drawn from a math/rand source seeded with Options.Seed, so
// that a run is reproducible as far as the order of the requests is. The
// injected answers are metav1.Status objects like the API server's own, so
// that client-go classifies them as it would real ones
// (apierrors.IsInternalError, IsTooManyRequests).
//
// The proxy listens on plain HTTP on the loopback interface and adds the
// upstream's credentials itself: clients need none (see RESTConfig and
// WriteKubeconfig).
package faultproxy
