package main

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rgd-dev/rgd/pkg/engine"
)

func TestParseFlagsDefaults(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []int{100, 500}, o.sizes)
	for _, s := range allScenarios {
		assert.True(t, o.scenarios[s], "scenario %s runs by default", s)
	}
	assert.Empty(t, o.limits.args(), "no engine flag is passed by default")
	assert.Equal(t, fmt.Sprintf("engine defaults (workers %d, QPS %g, burst %d from pkg/engine)", engine.DefaultWorkers, float64(engine.DefaultQPS), engine.DefaultBurst), o.limits.note())
	assert.True(t, o.kwok)
	assert.True(t, o.controllerManager, "with kwok the controller manager runs")
	assert.Equal(t, identityServiceAccount, o.engineIdentity)
	assert.Equal(t, neighbourOptions{identity: identityServiceAccount, gets: 20, writes: 5, baseline: 15 * time.Second}, o.neighbour)
	assert.Equal(t, 30, o.latencyUpdates)
	assert.Equal(t, "go run ./hack/bench (no flags: every default)", argsNote(o.args))
}

func TestParseFlagsEngineLimits(t *testing.T) {
	o, err := parseFlags([]string{"--qps", "-1", "--burst", "50"}, io.Discard)
	require.NoError(t, err, "a negative QPS is passed as given: the engine judges it")
	assert.Equal(t, []string{"--qps", "-1", "--burst", "50"}, o.limits.args())
	assert.Equal(t, fmt.Sprintf("set: --qps -1 --burst 50; engine defaults: workers %d (from pkg/engine)", engine.DefaultWorkers), o.limits.note())

	o, err = parseFlags([]string{"--workers=32", "--qps=400", "--burst=800"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"--workers", "32", "--qps", "400", "--burst", "800"}, o.limits.args())
	assert.Equal(t, "set: --workers 32 --qps 400 --burst 800", o.limits.note())

	o, err = parseFlags([]string{"--qps", "2.5"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"--qps", "2.5"}, o.limits.args())
}

func TestParseFlagsControllerManager(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"--kwok=false"}, false},
		{[]string{"--kwok=false", "--controller-manager"}, true},
		{[]string{"--kwok=true"}, true},
	} {
		o, err := parseFlags(tc.args, io.Discard)
		require.NoError(t, err, "%v", tc.args)
		assert.Equal(t, tc.want, o.controllerManager, "%v", tc.args)
	}
	_, err := parseFlags([]string{"--controller-manager=false"}, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "needs --kwok=false")
}

func TestPhaseTimeout(t *testing.T) {
	o, err := parseFlags([]string{"--sizes", "100,10000"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 5*time.Minute+10*time.Second, o.phaseTimeout(100))
	assert.Equal(t, 21*time.Minute+40*time.Second, o.phaseTimeout(10000))
	assert.Equal(t, 15*time.Minute, o.settleTimeout(100), "the cluster may take 15 minutes to quieten at any size")
	assert.Equal(t, 21*time.Minute+40*time.Second, o.settleTimeout(10000))
	assert.Equal(t, "phase timeout 5 min + 100 ms per instance (5m10s at N=100, 21m40s at N=10000)", o.timeoutNote())

	o, err = parseFlags([]string{"--timeout", "2m"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 2*time.Minute, o.phaseTimeout(10000))
	assert.Equal(t, "phase timeout 2m0s (--timeout)", o.timeoutNote())
}

func TestParseFlagsQuick(t *testing.T) {
	o, err := parseFlags([]string{"--quick"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []int{50}, o.sizes)
	assert.Equal(t, 15*time.Second, o.idle)
	assert.Equal(t, "go run ./hack/bench --quick", argsNote(o.args))
}

func TestParseFlagsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sizes", "100,x"}, `--sizes: expected positive integers separated by commas, got "x"`},
		{[]string{"--scenarios", "create,nope"}, `--scenarios: unknown scenario "nope"`},
		{[]string{"--engine-identity", "root"}, `--engine-identity: expected serviceaccount or admin, got "root"`},
		{[]string{"--neighbour-identity", "admin"}, `--neighbour-identity: expected serviceaccount or user, got "admin"`},
		{[]string{"--neighbour-gets", "0", "--neighbour-writes", "0"}, "must not be negative nor both 0"},
		{[]string{"--latency-updates", "0"}, "--latency-updates: must be at least 1, got 0"},
		{[]string{"--timeout", "-1s"}, "--timeout: must not be negative"},
		{[]string{"extra"}, `unexpected arguments: ["extra"]`},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		require.Error(t, err, "%v", tc.args)
		assert.Contains(t, err.Error(), tc.want, "%v", tc.args)
	}
}

func TestControlPlaneNote(t *testing.T) {
	assert.Equal(t, "etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok true", controlPlaneNote(options{kwok: true, controllerManager: true}))
	assert.Equal(t, "etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok false", controlPlaneNote(options{controllerManager: true}))
	assert.Equal(t, "etcd, kube-apiserver, kwok false; no kube-controller-manager nor kube-scheduler: without kwok no pod would run (--controller-manager runs them)",
		controlPlaneNote(options{}))
}
