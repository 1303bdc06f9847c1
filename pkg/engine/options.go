package engine

import (
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"github.com/rgd-dev/rgd/pkg/schemas"
)

// Options configure an Engine. The zero value is usable.
type Options struct {
	// Logger receives structured logs; the zero value discards them.
	Logger logr.Logger
	// Metrics, when set, receives the engine's Prometheus collectors.
	Metrics prometheus.Registerer
	// Workers is the number of instance reconciles that run at once
	// (default DefaultWorkers).
	Workers int
	// RGDWorkers is the number of RGD reconciles that run at once
	// (default DefaultRGDWorkers).
	RGDWorkers int
	// QPS and Burst rate-limit the engine's requests to the API server.
	// Zero means the rest.Config's own values when it sets them, else
	// DefaultQPS and DefaultBurst. A negative QPS turns the engine's own
	// rate limiting off, leaving the API server's priority and fairness as
	// the only limit (Burst is then unused).
	QPS   float32
	Burst int
	// Resolver answers the schemas of the kinds RGDs use; nil means the
	// cluster's discovery, then the built-in kinds of Kubernetes.
	Resolver schemas.Resolver
	// AllowCRDDeletion deletes a generated CRD (and so every instance) when
	// its RGD is deleted. Off by default: the CRD stays.
	AllowCRDDeletion bool
	// MaxCollectionSize caps the objects one forEach produces (default
	// DefaultMaxCollectionSize).
	MaxCollectionSize int
	// InstallCRD creates (or updates) the ResourceGraphDefinition CRD at
	// start when the cluster lacks it or has an older one.
	InstallCRD bool
	// MaxRetryDelay caps the exponential backoff with which failed work is
	// retried: an instance or RGD whose reconcile failed with an error that
	// may heal (the API server answered 5xx or 429, timed out, or the
	// connection broke), and each step of starting (default
	// DefaultMaxRetryDelay).
	MaxRetryDelay time.Duration
	// ReleaseMemoryWhenIdle returns the heap memory freed after a burst of
	// work to the operating system as soon as the engine is quiet, instead
	// of when the Go runtime gets round to it. It forces garbage
	// collections of the whole process, so it is off by default for an
	// embedded engine; the rgd command turns it on.
	ReleaseMemoryWhenIdle bool
	// StrictCostEstimate rejects an RGD with an expression whose estimated
	// worst-case CEL cost is above celenv.MaxEstimatedCost: its
	// GraphAccepted condition turns False. Off by default: such an RGD runs,
	// as in kro, with the estimate as a warning (in GraphAccepted's message
	// and a Warning event on the RGD), and every evaluation is still
	// stopped at celenv.PerCallCostLimit.
	StrictCostEstimate bool
	// DefaultServiceAccount is the identity the children of RGDs without
	// the rgd.dev/service-account annotation are written with, through
	// impersonation, in the annotation's form: NAME (the ServiceAccount in
	// each instance's own namespace) or NAMESPACE/NAME. Empty: such
	// children are written with the engine's own identity. New refuses a
	// malformed value.
	DefaultServiceAccount string
	// RequireServiceAccount refuses RGDs that name no ServiceAccount when
	// there is no DefaultServiceAccount: their GraphAccepted condition
	// turns False (reason ServiceAccountRequired) and their kind is not
	// served, so that the engine never writes a child with its own
	// identity and its role needs no write permission on children.
	RequireServiceAccount bool
}

// defaults fills in what o leaves unset; cfg is the engine's copy of the
// caller's rest.Config, whose rate limits it sets.
func (o *Options) defaults(cfg *rest.Config) {
	if o.QPS < 0 {
		cfg.QPS = -1 // client-go builds no rate limiter for a negative QPS
	} else {
		cfg.QPS = orDefault(o.QPS, orDefault(cfg.QPS, DefaultQPS))
	}
	cfg.Burst = orDefault(o.Burst, orDefault(cfg.Burst, DefaultBurst))
	o.QPS, o.Burst = cfg.QPS, cfg.Burst
	o.Workers = orDefault(o.Workers, DefaultWorkers)
	o.RGDWorkers = orDefault(o.RGDWorkers, DefaultRGDWorkers)
	o.MaxRetryDelay = orDefault(o.MaxRetryDelay, DefaultMaxRetryDelay)
	o.MaxCollectionSize = orDefault(o.MaxCollectionSize, DefaultMaxCollectionSize)
}

// orDefault is v when it is set (positive), else def.
func orDefault[T int | float32 | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}
