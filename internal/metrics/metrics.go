package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's collectors. The zero registry still works: the
// collectors count, they are just not exported.
type Metrics struct {
	// Reconciles counts reconciles by controller (rgd, instance) and result.
	Reconciles *prometheus.CounterVec
	// ReconcileDuration observes reconcile durations by controller.
	ReconcileDuration *prometheus.HistogramVec
	// QueueDepth is the number of keys waiting, by controller.
	QueueDepth *prometheus.GaugeVec
	// CELEvaluation observes the time of one CEL evaluation.
	CELEvaluation prometheus.Histogram
	// Instances is the number of instances by kind and state.
	Instances *prometheus.GaugeVec
	// Panics counts reconciles that panicked and were recovered.
	Panics *prometheus.CounterVec
	// APIRequests counts the engine's API requests by verb and status
	// code (see CountRequests).
	APIRequests *prometheus.CounterVec
}

// New creates the collectors and registers them with reg (nil: not
// registered).
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rgd_reconcile_total", Help: "Reconciles by controller and result (success, error, requeue, canceled: cut short by shutdown).",
		}, []string{"controller", "result"}),
		ReconcileDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rgd_reconcile_duration_seconds", Help: "Duration of reconciles by controller.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"controller"}),
		QueueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rgd_queue_depth", Help: "Keys waiting in the work queue, by controller.",
		}, []string{"controller"}),
		CELEvaluation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "rgd_cel_evaluation_duration_seconds", Help: "Duration of one CEL evaluation.",
			Buckets: prometheus.ExponentialBuckets(0.000001, 4, 12),
		}),
		Instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rgd_instances", Help: "Instances by kind and state.",
		}, []string{"kind", "state"}),
		Panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rgd_reconcile_panics_total", Help: "Reconciles that panicked and were recovered, by controller.",
		}, []string{"controller"}),
		APIRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rgd_api_requests_total", Help: "API requests made by rgd's clients, by verb and HTTP status code.",
		}, []string{"verb", "code"}),
	}
	if reg != nil {
		reg.MustRegister(m.Reconciles, m.ReconcileDuration, m.QueueDepth, m.CELEvaluation, m.Instances, m.Panics, m.APIRequests)
	}
	return m
}

// ObserveReconcile records one reconcile.
func (m *Metrics) ObserveReconcile(controller string, d time.Duration, result string) {
	m.Reconciles.WithLabelValues(controller, result).Inc()
	m.ReconcileDuration.WithLabelValues(controller).Observe(d.Seconds())
}

// CountRequests returns a RoundTripper that counts every request through
// next in m.APIRequests, by HTTP method and status code ("<error>" when no
// answer came). Set on a rest.Config (WrapTransport), it counts one
// engine's requests, whatever else the process runs.
func (m *Metrics) CountRequests(next http.RoundTripper) http.RoundTripper {
	return &requestCounter{next: next, count: m.APIRequests}
}

type requestCounter struct {
	next  http.RoundTripper
	count *prometheus.CounterVec
}

func (c *requestCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	code := "<error>"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	c.count.WithLabelValues(req.Method, code).Inc()
	return resp, err
}
