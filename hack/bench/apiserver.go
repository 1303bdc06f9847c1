package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
)

// serverWindow returns the API server's mutating requests, by verb, over d.
func serverWindow(ctx context.Context, cs kubernetes.Interface, d time.Duration) (Counts, error) {
	before, err := serverMutating(ctx, cs)
	if err != nil {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(d):
	}
	after, err := serverMutating(ctx, cs)
	if err != nil {
		return nil, err
	}
	return after.Sub(before), nil
}

// serverMetrics scrapes the API server's /metrics (with the admin token).
func serverMetrics(ctx context.Context, cs kubernetes.Interface) (Metrics, error) {
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("API server /metrics: %w", err)
	}
	m, err := ParseMetrics(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("API server /metrics: %w", err)
	}
	return m, nil
}

// perInstance renders counts divided by n: "GET 4, PATCH 1.2".
func perInstance(c Counts, n int) string {
	out := Counts{}
	for k, v := range c {
		out[k] = math.Round(v/float64(n)*100) / 100
	}
	return out.String()
}

func serverMutating(ctx context.Context, cs kubernetes.Interface) (Counts, error) {
	m, err := serverMetrics(ctx, cs)
	if err != nil {
		return nil, err
	}
	out := Counts{}
	for k, v := range m.CounterByLabels("apiserver_request_total", "verb", "resource") {
		if verb, _, _ := strings.Cut(k, " "); slices.Contains(serverMutatingVerbs, verb) {
			out[k] = v
		}
	}
	return out, nil
}

// The cluster counts as quiet when the API server served at most
// quietWrites mutating requests, other than heartbeats (leases, which every
// component renews every few seconds, and node status), in quietWindow.
const (
	quietWrites          = 2
	quietWindow          = 5 * time.Second
	clusterSettleTimeout = 15 * time.Minute
)

// waitClusterQuiet waits until the cluster is quiet, at most timeout.
func waitClusterQuiet(ctx context.Context, cs kubernetes.Interface, timeout time.Duration) error {
	return poll(ctx, timeout, func() (bool, error) {
		c, err := serverWindow(ctx, cs, quietWindow)
		if err != nil {
			return false, err
		}
		var writes float64
		for k, v := range c {
			if _, resource, _ := strings.Cut(k, " "); resource != "leases" && resource != "nodes" {
				writes += v
			}
		}
		return writes <= quietWrites, nil
	})
}

// settle waits until the engine's mutating request count has not moved for quiet.
func settle(ctx context.Context, eng *engineProc, quiet, timeout time.Duration) error {
	last, err := eng.mutating(ctx)
	if err != nil {
		return err
	}
	since := time.Now()
	return poll(ctx, timeout, func() (bool, error) {
		now, err := eng.mutating(ctx)
		if err != nil {
			return false, err
		}
		if now.Total() != last.Total() {
			last, since = now, time.Now()
		}
		return time.Since(since) >= quiet, nil
	})
}
