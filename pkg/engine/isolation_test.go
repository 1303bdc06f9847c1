package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/rgd-dev/rgd/pkg/devcluster"
	"github.com/rgd-dev/rgd/pkg/engine"
)

// isolatedRGD defines a kind with one ConfigMap child that carries the
// instance's value.
const isolatedRGD = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: isolated
spec:
  schema:
    apiVersion: v1alpha1
    kind: Isolated
    spec:
      value: string
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}
      data:
        value: ${schema.spec.value}
`

var isolatedResource = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "isolateds"}

// side is one engine on a cluster of its own, with its own registry.
type side struct {
	dyn     dynamic.Interface
	reg     *prometheus.Registry
	stop    context.CancelFunc
	stopped chan error
}

// startSide starts a control plane and an engine on it.
func startSide(t *testing.T) *side {
	t.Helper()
	return startSideWith(t, engine.Options{Workers: 2})
}

// startSideWith starts a control plane and an engine with opts on it (the
// engine's logger, metrics and CRD installation are the side's).
func startSideWith(t *testing.T, opts engine.Options) *side {
	t.Helper()
	cluster, err := devcluster.Start(context.Background(), devcluster.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, cluster.Stop()) })
	dyn, err := dynamic.NewForConfig(cluster.RESTConfig())
	require.NoError(t, err)
	s := &side{dyn: dyn, reg: prometheus.NewRegistry(), stopped: make(chan error, 1)}
	opts.Logger, opts.Metrics, opts.InstallCRD = logr.Discard(), s.reg, true
	e, err := engine.New(cluster.RESTConfig(), opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go func() { s.stopped <- e.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-s.stopped
	})
	eventually(t, time.Minute, "the engine ready", func() (bool, string) { return e.Ready(), "not ready" })
	return s
}

// instances creates instances of Isolated named after values, each with
// its value, and waits until they are ACTIVE with their ConfigMaps.
func (s *side) instances(t *testing.T, values ...string) {
	t.Helper()
	for _, v := range values {
		apply(t, s.dyn, "default", fmt.Sprintf("apiVersion: kro.run/v1alpha1\nkind: Isolated\nmetadata: {name: %s, namespace: default}\nspec: {value: %s}\n", v, v))
	}
	for _, v := range values {
		waitState(t, s.dyn, isolatedResource, "default", v, "ACTIVE", time.Minute)
		cm, err := get(s.dyn, schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, "default", v)
		require.NoError(t, err)
		got, _, _ := unstructured.NestedString(cm.Object, "data", "value")
		assert.Equal(t, v, got)
	}
}

// TestTwoEnginesInOneProcess runs two engines side by side, each on its own
// control plane with its own metrics registry: each serves its own cluster,
// counts only its own work, and stopping one leaves the other working.
func TestTwoEnginesInOneProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts two local control planes, which -short does not")
	}
	a, b := startSide(t), startSide(t)
	for _, s := range []*side{a, b} {
		apply(t, s.dyn, "", isolatedRGD)
		waitRGDActive(t, s.dyn, "isolated")
	}
	a.instances(t, "a1", "a2")
	b.instances(t, "b1")

	active := func(s *side) float64 {
		return seriesValue(t, s.reg, "rgd_instances", map[string]string{"kind": "Isolated", "state": "ACTIVE"})
	}
	eventually(t, 30*time.Second, "each registry counts its own ACTIVE instances", func() (bool, string) {
		return active(a) == 2 && active(b) == 1, fmt.Sprintf("a: %v, b: %v", active(a), active(b))
	})
	_, err := get(b.dyn, isolatedResource, "default", "a1")
	assert.Error(t, err, "engine a wrote nothing into b's cluster")
	for name, s := range map[string]*side{"a": a, "b": b} {
		assert.Positive(t, seriesValue(t, s.reg, "rgd_api_requests_total", map[string]string{"verb": "POST", "code": "201"}),
			"engine %s counts its creates", name)
	}

	// Stopping a leaves b running.
	a.stop()
	require.NoError(t, <-a.stopped)
	a.stopped <- nil // for the cleanup
	b.instances(t, "b2")
}

// seriesValue is the value of the series of name in reg whose labels
// include labels (0 when there is none).
func seriesValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue series
				}
			}
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return 0
}
