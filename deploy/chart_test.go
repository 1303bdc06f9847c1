package deploy_test

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/rgd-dev/rgd/pkg/engine"
)

// TestChartShowsTheEngineDefaults checks what the chart (../charts/rgd)
// says of the engine's defaults, which pkg/engine alone chooses: the ports
// values.yaml shows are the engine's, its grace period outlasts the
// engine's shutdown, and the README's list of the defaults the chart leaves
// to the engine is the engine's. (The chart's other tests live in the
// module hack/chart, which cannot import the engine.)
func TestChartShowsTheEngineDefaults(t *testing.T) {
	raw, err := os.ReadFile("../charts/rgd/values.yaml")
	require.NoError(t, err)
	var vals struct {
		Metrics struct {
			Port int `json:"port"`
		} `json:"metrics"`
		Probes struct {
			Port int `json:"port"`
		} `json:"probes"`
		TerminationGracePeriodSeconds int `json:"terminationGracePeriodSeconds"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &vals))
	assert.Equal(t, listenPort(t, engine.DefaultMetricsAddr), vals.Metrics.Port, "metrics.port is the engine's default")
	assert.Equal(t, listenPort(t, engine.DefaultProbeAddr), vals.Probes.Port, "probes.port is the engine's default")
	assert.Greater(t, float64(vals.TerminationGracePeriodSeconds), engine.DefaultShutdownTimeout.Seconds(),
		"the kubelet waits longer than the engine's shutdown")

	readme, err := os.ReadFile("../charts/rgd/README.md")
	require.NoError(t, err)
	want := fmt.Sprintf("`controller.workers` %d, `controller.rgdWorkers` %d, `controller.qps` %d, `controller.burst` %d, "+
		"`controller.maxRetryDelay` %s, `controller.shutdownTimeout` %s.",
		engine.DefaultWorkers, engine.DefaultRGDWorkers, engine.DefaultQPS, engine.DefaultBurst,
		shortDuration(engine.DefaultMaxRetryDelay), shortDuration(engine.DefaultShutdownTimeout))
	assert.Contains(t, string(readme), want, "charts/rgd/README.md lists the engine's defaults")
}

// listenPort is the port of a listen address such as ":8078".
func listenPort(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	n, err := strconv.Atoi(p)
	require.NoError(t, err)
	return n
}

// shortDuration writes d as a person would: 30s, 1m, 1h30m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
