package metrics

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	clientmetrics "k8s.io/client-go/tools/metrics"
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
	}
	if reg != nil {
		reg.MustRegister(m.Reconciles, m.ReconcileDuration, m.QueueDepth, m.CELEvaluation, m.Instances, m.Panics)
	}
	return m
}

// ObserveReconcile records one reconcile.
func (m *Metrics) ObserveReconcile(controller string, d time.Duration, result string) {
	m.Reconciles.WithLabelValues(controller, result).Inc()
	m.ReconcileDuration.WithLabelValues(controller).Observe(d.Seconds())
}

// APIRequests counts the process's API requests by verb and status code,
// through client-go's metrics hooks. It is process-wide, as those hooks are.
var APIRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "rgd_api_requests_total", Help: "API requests made by rgd's clients, by verb and HTTP status code.",
}, []string{"verb", "code"})

var registerOnce sync.Once

// RegisterAPIRequests installs the client-go hook that feeds APIRequests
// (once per process) and registers APIRequests with reg when not nil.
func RegisterAPIRequests(reg prometheus.Registerer) {
	registerOnce.Do(func() {
		clientmetrics.Register(clientmetrics.RegisterOpts{RequestResult: requestResult{}})
	})
	if reg != nil {
		_ = reg.Register(APIRequests)
	}
}

type requestResult struct{}

func (requestResult) Increment(_ context.Context, code, method, _ string) {
	APIRequests.WithLabelValues(method, code).Inc()
}

// MutatingRequests returns the number of POST, PUT, PATCH and DELETE
// requests counted so far.
func MutatingRequests() float64 {
	var total float64
	for _, verb := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		for _, code := range commonCodes {
			total += counterValue(APIRequests.WithLabelValues(verb, code))
		}
	}
	return total
}

var commonCodes = func() []string {
	var codes []string
	for _, c := range []int{200, 201, 202, 204, 400, 403, 404, 409, 410, 422, 429, 500, 503} {
		codes = append(codes, strconv.Itoa(c))
	}
	return append(codes, "<error>")
}()

func counterValue(c prometheus.Counter) float64 {
	var out dto.Metric
	if err := c.Write(&out); err != nil || out.Counter == nil {
		return 0
	}
	return out.Counter.GetValue()
}
