package crashtest_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
)

// idleWindow is how long settled instances are watched for writes (the
// issue asks for a minute).
const idleWindow = 60 * time.Second

// mutatingVerbs are the HTTP methods that change objects.
var mutatingVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "DELETE": true}

// apiWrites reads the engine's rgd_api_requests_total from its /metrics and
// returns the mutating requests by "VERB code".
func apiWrites(metricsAddr string) (map[string]float64, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing /metrics: %w", err)
	}
	out := map[string]float64{}
	fam, ok := families["rgd_api_requests_total"]
	if !ok {
		return out, nil // no request counted yet
	}
	for _, m := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if mutatingVerbs[labels["verb"]] {
			out[labels["verb"]+" "+labels["code"]] += m.GetCounter().GetValue()
		}
	}
	return out, nil
}

// writesSince returns the requests in now that are not in base, and their total.
func writesSince(base, now map[string]float64) (float64, string) {
	var total float64
	var parts []string
	for k, v := range now {
		if d := v - base[k]; d > 0 {
			total += d
			parts = append(parts, fmt.Sprintf("%s: %v", k, d))
		}
	}
	sort.Strings(parts)
	return total, strings.Join(parts, ", ")
}

// TestIdleNoWrites checks that settled instances cost no API writes: once
// ten instances are ACTIVE, the engine makes no mutating request for a
// minute. The engine runs as its own process, so its request counter holds
// its requests only.
func TestIdleNoWrites(t *testing.T) {
	dyn := setup(t)
	bin := buildRGD(t)
	logPath := filepath.Join(t.TempDir(), "rgd-controller.log")
	logOnFailure(t, logPath)
	eng := startEngineProcess(t, bin, logPath, true)

	applyYAML(t, dyn, v1alpha1.ResourceGraphDefinitionResource, chainRGD("idlechain", "IdleChain"))
	t.Cleanup(func() {
		_ = dyn.Resource(v1alpha1.ResourceGraphDefinitionResource).Delete(context.Background(), "idlechain", metav1.DeleteOptions{})
	})
	waitRGDActive(t, dyn, "idlechain")
	gvr := instanceResource("idlechains")
	ns := devclustertest.Namespace(t)
	names := instanceNames("idle", 10)
	createInstances(t, dyn, gvr, "IdleChain", ns, names)
	waitConverged(t, dyn, gvr, ns, names, 120*time.Second)

	base, err := apiWrites(eng.metrics)
	require.NoError(t, err)
	total, _ := writesSince(nil, base)
	require.Positive(t, total, "the engine's writes are counted (it created the children): %v", base)

	// Poll every second for the whole window; fail at the first write.
	start := time.Now()
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for range ticker.C {
		now, err := apiWrites(eng.metrics)
		require.NoError(t, err)
		if n, which := writesSince(base, now); n > 0 {
			t.Fatalf("the engine made %v mutating API requests %s after its instances settled: %s",
				n, time.Since(start).Round(time.Second), which)
		}
		if time.Since(start) >= idleWindow {
			break
		}
	}
	// Still settled at the end.
	require.Empty(t, convergence(dyn, gvr, ns, names))

	for _, name := range names {
		require.NoError(t, dyn.Resource(gvr).Namespace(ns).Delete(context.Background(), name, metav1.DeleteOptions{}))
	}
	waitConverged(t, dyn, gvr, ns, nil, 120*time.Second)
	deleteRGD(t, dyn, "idlechain")
}
