package engine

import (
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rgd-dev/rgd/pkg/schemas"
)

// Options configure an Engine. The zero value is usable.
type Options struct {
	// Logger receives structured logs; the zero value discards them.
	Logger logr.Logger
	// Metrics, when set, receives the engine's Prometheus collectors.
	Metrics prometheus.Registerer
	// Workers is the number of instance reconciles that run at once
	// (default 16).
	Workers int
	// RGDWorkers is the number of RGD reconciles that run at once
	// (default 2).
	RGDWorkers int
	// Resolver answers the schemas of the kinds RGDs use; nil means the
	// cluster's discovery, then the built-in kinds of Kubernetes.
	Resolver schemas.Resolver
	// AllowCRDDeletion deletes a generated CRD (and so every instance) when
	// its RGD is deleted. Off by default: the CRD stays.
	AllowCRDDeletion bool
	// MaxCollectionSize caps the objects one forEach produces (default 1000).
	MaxCollectionSize int
	// InstallCRD creates (or updates) the ResourceGraphDefinition CRD at
	// start when the cluster lacks it or has an older one.
	InstallCRD bool
	// MaxRetryDelay caps the exponential backoff with which failed work is
	// retried: an instance or RGD whose reconcile failed with an error that
	// may heal (the API server answered 5xx or 429, timed out, or the
	// connection broke), and each step of starting. Default 30 s.
	MaxRetryDelay time.Duration
	// ReleaseMemoryWhenIdle returns the heap memory freed after a burst of
	// work to the operating system as soon as the engine is quiet, instead
	// of when the Go runtime gets round to it. It forces garbage
	// collections of the whole process, so it is off by default for an
	// embedded engine; the rgd command turns it on.
	ReleaseMemoryWhenIdle bool
}

// DefaultMaxRetryDelay is the default of Options.MaxRetryDelay.
const DefaultMaxRetryDelay = 30 * time.Second

func (o *Options) defaults() {
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.RGDWorkers <= 0 {
		o.RGDWorkers = 2
	}
	if o.MaxRetryDelay <= 0 {
		o.MaxRetryDelay = DefaultMaxRetryDelay
	}
	if o.MaxCollectionSize <= 0 {
		o.MaxCollectionSize = 1000
	}
}
