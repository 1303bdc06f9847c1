package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/rgd-dev/rgd/internal/retry"
)

// RunOptions say how Run hosts the engine as a long-running process: the
// HTTP endpoints, leader election and shutdown. The zero value runs the
// engine alone, with no endpoint and no election.
type RunOptions struct {
	// MetricsAddr is where /metrics is served ("" or "0": nowhere).
	MetricsAddr string
	// Metrics is what /metrics serves; nil means Options.Metrics when it is
	// also a prometheus.Gatherer (a *prometheus.Registry is).
	Metrics prometheus.Gatherer
	// ProbeAddr is where /healthz and /readyz are served ("" or "0":
	// nowhere). /healthz answers 200 while the process runs; /readyz 200
	// once the engine runs, and on a standby replica while it waits for the
	// Lease (so that a Deployment's rolling update proceeds), else 503.
	ProbeAddr string
	// PprofAddr is where Go's /debug/pprof profiles are served ("" or "0":
	// nowhere). Bind it to loopback.
	PprofAddr string
	// LeaderElection, when set, runs the engine only while this process
	// holds a Lease, and releases the Lease on shutdown.
	LeaderElection *LeaderElection
	// ShutdownTimeout bounds how long Run waits for the engine (and the
	// election) to stop once ctx ends (default DefaultShutdownTimeout).
	ShutdownTimeout time.Duration
}

// Run runs the engine the way `rgd controller` does: it serves the HTTP
// endpoints of o, waits (retrying) until the API server answers, takes the
// Lease when o asks for leader election, and runs the engine until ctx
// ends, the engine fails or the Lease is lost. It then stops the engine
// within o.ShutdownTimeout, releases the Lease and returns: nil when ctx
// ended, else why it stopped.
//
// Start is the engine without this hosting, for a program that hosts it
// itself (a controller-runtime manager, for example).
func (e *Engine) Run(ctx context.Context, o RunOptions) error {
	if o.Metrics == nil {
		o.Metrics, _ = e.opts.Metrics.(prometheus.Gatherer)
	}
	return run(ctx, e, e.cfg, e.opts.Logger, e.opts.MaxRetryDelay, o)
}

// hostable is what run needs of an engine; tests host a fake.
type hostable interface {
	Start(ctx context.Context) error
	Ready() bool
}

// run hosts eng (see Engine.Run); cfg reaches the API server and log
// receives the lifecycle's records.
func run(ctx context.Context, eng hostable, cfg *rest.Config, log logr.Logger, retryDelay time.Duration, o RunOptions) error {
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("engine: client: %w", err)
	}
	h := &host{eng: eng, log: log, election: o.LeaderElection, done: make(chan error, 1)}
	// The HTTP servers live until the engine has stopped, so that /healthz
	// answers during shutdown.
	serveCtx, stopServing := context.WithCancel(context.Background())
	var servers sync.WaitGroup
	defer func() { stopServing(); servers.Wait() }()
	if err := h.serve(serveCtx, &servers, o); err != nil {
		return err
	}
	// An API server that does not answer yet is waited for, not a reason to
	// stop: in a cluster, exiting turns a blip into a CrashLoopBackOff.
	err = retry.Until(ctx, log, "reaching the API server at "+cfg.Host, retryDelay, func(ctx context.Context) error {
		version, err := serverVersion(ctx, cs)
		if err != nil {
			return err
		}
		log.Info("connected", "host", cfg.Host, "serverVersion", version.GitVersion)
		return nil
	})
	if err != nil {
		log.Info("stopped before the API server answered", "error", err.Error())
		return nil
	}
	h.connected.Store(true)

	// electionDone is closed when leader election has ended (never without it).
	electionDone := make(chan struct{})
	stopElection := func() {}
	if h.election == nil {
		go h.start(ctx)
	} else {
		electionCtx, cancel := context.WithCancel(klog.NewContext(context.Background(), log.WithName("leader-election")))
		defer cancel()
		stopElection = cancel
		if err := h.elect(ctx, electionCtx, cs, electionDone); err != nil {
			return err
		}
	}
	runErr := h.wait(ctx, electionDone)
	return h.stop(ctx, runErr, stopElection, electionDone, o.ShutdownTimeout)
}

// Where the hosted engine is: it starts at most once, and never after
// shutdown has begun.
const (
	engineIdle = iota
	engineRunning
	engineClosed
)

// host is run's state: the engine's, the connection's and the election's.
type host struct {
	eng       hostable
	log       logr.Logger
	election  *LeaderElection
	connected atomic.Bool
	// done receives Start's result once the engine has run.
	done  chan error
	mu    sync.Mutex
	state int
}

// serve starts the HTTP endpoints o asks for.
func (h *host) serve(ctx context.Context, wg *sync.WaitGroup, o RunOptions) error {
	metrics := promhttp.HandlerFor(prometheus.NewRegistry(), promhttp.HandlerOpts{})
	if o.Metrics != nil {
		metrics = promhttp.HandlerFor(o.Metrics, promhttp.HandlerOpts{})
	}
	if _, err := serveHTTP(ctx, wg, h.log, "metrics", o.MetricsAddr, metrics); err != nil {
		return err
	}
	if _, err := serveHTTP(ctx, wg, h.log, "health probes", o.ProbeAddr, probeHandler(h.ready)); err != nil {
		return err
	}
	_, err := serveHTTP(ctx, wg, h.log, "pprof", o.PprofAddr, pprofHandler())
	return err
}

// ready is /readyz: the engine runs, or, with leader election, this
// replica waits for the Lease. A standby that never turned ready would hold
// up every rolling update of a Deployment (the new pod waits for the old
// one's Lease, the old one waits for the new pod to be ready). Until the
// API server has answered, no replica is ready.
func (h *host) ready() bool {
	if h.eng.Ready() {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.election != nil && h.state == engineIdle && h.connected.Load()
}

// start runs the engine until ctx ends, unless it has run or shutdown has
// begun.
func (h *host) start(ctx context.Context) {
	h.mu.Lock()
	if h.state != engineIdle {
		h.mu.Unlock()
		return
	}
	h.state = engineRunning
	h.mu.Unlock()
	h.log.Info("starting the engine")
	h.done <- h.eng.Start(ctx)
}

// close forbids later starts and says whether the engine ran.
func (h *host) close() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	ran := h.state == engineRunning
	h.state = engineClosed
	return ran
}

// wait blocks until ctx ends, the engine stops or the election ends, and
// says why, when that is a failure.
func (h *host) wait(ctx context.Context, electionDone <-chan struct{}) error {
	select {
	case <-ctx.Done():
		h.log.Info("shutting down")
		return nil
	case err := <-h.done:
		h.done <- err // for stop
		if err != nil {
			return fmt.Errorf("the engine stopped: %w", err)
		}
		return errors.New("the engine stopped unexpectedly")
	case <-electionDone:
		return fmt.Errorf("lost the leader-election Lease %s", h.election.LeaseName)
	}
}

// stop ends the engine and then the election within timeout, and returns
// runErr, or why stopping failed.
func (h *host) stop(ctx context.Context, runErr error, stopElection func(), electionDone <-chan struct{}, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	if h.close() {
		select {
		case err := <-h.done:
			if err != nil && runErr == nil && ctx.Err() == nil {
				runErr = fmt.Errorf("the engine stopped: %w", err)
			}
		case <-deadline.C:
			return fmt.Errorf("the engine did not stop within the shutdown timeout %s", timeout)
		}
	}
	if h.election != nil {
		stopElection()
		select {
		case <-electionDone:
		case <-deadline.C:
			return fmt.Errorf("leader election did not stop within the shutdown timeout %s", timeout)
		}
	}
	if runErr == nil {
		h.log.Info("stopped")
	}
	return runErr
}
