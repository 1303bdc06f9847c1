package main

import (
	"context"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// engineLevel is the API Priority and Fairness priority level that a
// ServiceAccount outside kube-system lands in (flow schema
// service-accounts of the API server's suggested configuration), where a
// deployed rgd's requests go.
const engineLevel = "workload-low"

// apfSample is what one scrape of the API server's metrics says of API
// Priority and Fairness.
type apfSample struct {
	// dispatched are the requests executed, by "priority_level flow_schema".
	dispatched Counts
	// rejected are the requests refused with 429, by priority level.
	rejected Counts
	// waitSum and waitCount are the seconds requests waited in APF's queues
	// and how many requests, by priority level.
	waitSum, waitCount Counts
}

// readAPF reads the APF counters of a scrape of the API server.
func readAPF(m Metrics) apfSample {
	s := apfSample{
		dispatched: Counts(m.CounterByLabels("apiserver_flowcontrol_dispatched_requests_total", "priority_level", "flow_schema")),
		rejected:   Counts(m.CounterByLabel("apiserver_flowcontrol_rejected_requests_total", "priority_level", nil)),
	}
	sum, count := m.HistogramByLabel("apiserver_flowcontrol_request_wait_duration_seconds", "priority_level")
	s.waitSum, s.waitCount = Counts(sum), Counts(count)
	return s
}

// sub returns s - base, counter by counter.
func (s apfSample) sub(base apfSample) apfSample {
	return apfSample{
		dispatched: s.dispatched.Sub(base.dispatched),
		rejected:   s.rejected.Sub(base.rejected),
		waitSum:    s.waitSum.Sub(base.waitSum),
		waitCount:  s.waitCount.Sub(base.waitCount),
	}
}

// level returns the requests dispatched at priority level pl.
func (s apfSample) level(pl string) float64 {
	var t float64
	for k, v := range s.dispatched {
		if l, _, _ := strings.Cut(k, " "); l == pl {
			t += v
		}
	}
	return t
}

// String renders "exempt (exempt) 2412, workload-low (service-accounts)
// 1288; rejected: none; mean wait in queue: workload-low 0.3 ms".
func (s apfSample) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s.dispatched)) {
		pl, fs, _ := strings.Cut(k, " ")
		parts = append(parts, fmt.Sprintf("%s (%s) %g", pl, fs, s.dispatched[k]))
	}
	if len(parts) == 0 {
		parts = append(parts, "none")
	}
	var waits []string
	for _, pl := range slices.Sorted(maps.Keys(s.waitCount)) {
		if c := s.waitCount[pl]; c > 0 {
			waits = append(waits, fmt.Sprintf("%s %.1f ms", pl, 1000*s.waitSum[pl]/c))
		}
	}
	if len(waits) == 0 {
		waits = append(waits, "none")
	}
	return strings.Join(parts, ", ") + "; rejected: " + s.rejected.String() + "; mean wait in queue: " + strings.Join(waits, ", ")
}

// engineLevelRow says how many of the engine's requests in a phase the API
// server dispatched at engineLevel: those dispatched there less the
// neighbour's (which it counts itself), against the engine's own count.
// With the admin identity the engine is exempt, among the harness's own
// requests, and the row only says so.
func engineLevelRow(n int, identity string, apf apfSample, engineRequests float64, neighbour Counts) Row {
	row := Row{Scenario: "create", N: n, Measure: "engine requests dispatched at APF priority level " + engineLevel, Result: Info}
	if identity == identityAdmin {
		row.Value = "none expected: the admin identity (system:masters) is exempt, counted with the harness's own client"
		return row
	}
	level := apf.level(engineLevel)
	engine := level - neighbour[engineLevel]
	row.Value = fmt.Sprintf("%g of the engine's %g requests (%g dispatched there, %g of them the neighbour's)", engine, engineRequests, level, neighbour[engineLevel])
	row.Target = "all of them (±10%)"
	if engineRequests > 0 {
		row.Result = AtMost(math.Abs(engine/engineRequests-1), 0.1)
	}
	return row
}

// apfNames maps the UIDs of the API server's FlowSchemas and
// PriorityLevelConfigurations to their names.
func apfNames(ctx context.Context, cs kubernetes.Interface) (map[string]string, error) {
	out := map[string]string{}
	fss, err := cs.FlowcontrolV1().FlowSchemas().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing FlowSchemas: %w", err)
	}
	for _, fs := range fss.Items {
		out[string(fs.UID)] = fs.Name
	}
	pls, err := cs.FlowcontrolV1().PriorityLevelConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing PriorityLevelConfigurations: %w", err)
	}
	for _, pl := range pls.Items {
		out[string(pl.UID)] = pl.Name
	}
	return out, nil
}

// apfRecorder is an http.RoundTripper that counts the API server's answers
// by the priority level and flow schema it says it classified each request
// into (APF's response headers), and the answers 429.
type apfRecorder struct {
	next http.RoundTripper

	mu sync.Mutex
	// classes counts answers by "priority-level-UID flow-schema-UID".
	classes   map[string]float64
	throttled int
}

// RoundTrip implements http.RoundTripper.
func (r *apfRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	key := resp.Header.Get(flowcontrolv1.ResponseHeaderMatchedPriorityLevelConfigurationUID) + " " +
		resp.Header.Get(flowcontrolv1.ResponseHeaderMatchedFlowSchemaUID)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.classes == nil {
		r.classes = map[string]float64{}
	}
	r.classes[key]++
	if resp.StatusCode == http.StatusTooManyRequests {
		r.throttled++
	}
	return resp, nil
}

// take returns the counts so far and starts again from zero.
func (r *apfRecorder) take() (classes map[string]float64, throttled int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	classes, throttled = r.classes, r.throttled
	r.classes, r.throttled = nil, 0
	return classes, throttled
}

// byLevel turns counts by "priority-level-UID flow-schema-UID" into counts
// by priority level name, and the classes seen into "flow schema X,
// priority level Y" (unknown UIDs are shown as they are).
func byLevel(classes map[string]float64, names map[string]string) (Counts, string) {
	name := func(uid string) string {
		if n, ok := names[uid]; ok {
			return n
		}
		if uid == "" {
			return "(none)"
		}
		return uid
	}
	out := Counts{}
	var seen []string
	for _, k := range slices.Sorted(maps.Keys(classes)) {
		pl, fs, _ := strings.Cut(k, " ")
		out[name(pl)] += classes[k]
		seen = append(seen, fmt.Sprintf("flow schema %s, priority level %s", name(fs), name(pl)))
	}
	return out, strings.Join(seen, "; ")
}
