package engine

import (
	"time"

	"github.com/rgd-dev/rgd/internal/reconcile"
	"github.com/rgd-dev/rgd/pkg/render"
)

// The engine's defaults. `rgd controller`, `rgd dev`, the manifests under
// deploy/ and a program embedding the engine all get these values when they
// set nothing: this is the one place they are chosen.
const (
	// DefaultWorkers is the default of Options.Workers: instance reconciles
	// that run at once.
	DefaultWorkers = 16
	// DefaultRGDWorkers is the default of Options.RGDWorkers.
	DefaultRGDWorkers = 2
	// DefaultQPS is the default of Options.QPS: the sustained rate of
	// requests to the API server. Creating an instance of a 4-resource RGD
	// costs about 6 requests, so at 100 QPS a burst of 500 instances was
	// bound by the limit (29.9 s, 3.7x the time of creating the children
	// directly); at 400 it took 19.7 s (2.5x) while another client's p99
	// latency during the burst was no worse than at 100 (the API server's
	// CPU, not rgd's rate, sets it: docs/performance.md). Priority and
	// fairness still protects the API server: rgd's requests go through the
	// flow schema of its ServiceAccount.
	DefaultQPS = 400
	// DefaultBurst is the default of Options.Burst: the requests the engine
	// may send at once above DefaultQPS.
	DefaultBurst = 800
	// DefaultMaxRetryDelay is the default of Options.MaxRetryDelay.
	DefaultMaxRetryDelay = reconcile.DefaultMaxDelay
	// DefaultMaxCollectionSize is the default of Options.MaxCollectionSize.
	DefaultMaxCollectionSize = render.DefaultMaxCollectionSize
	// DefaultShutdownTimeout is the default of RunOptions.ShutdownTimeout.
	DefaultShutdownTimeout = 30 * time.Second
	// DefaultMetricsAddr is where `rgd controller` serves /metrics.
	DefaultMetricsAddr = ":8078"
	// DefaultProbeAddr is where `rgd controller` serves /healthz and /readyz.
	DefaultProbeAddr = ":8079"
	// DefaultLeaseName is the default of LeaderElection.LeaseName.
	DefaultLeaseName = "rgd-controller"
)

// Leader election timings, client-go's usual values: the defaults of
// LeaderElection's durations.
const (
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)
