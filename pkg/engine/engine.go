package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsclientset "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/rgd-dev/rgd/internal/controller/instance"
	"github.com/rgd-dev/rgd/internal/controller/rgd"
	"github.com/rgd-dev/rgd/internal/metrics"
	"github.com/rgd-dev/rgd/internal/registrar"
	"github.com/rgd-dev/rgd/internal/retry"
	"github.com/rgd-dev/rgd/internal/watch"
	"github.com/rgd-dev/rgd/pkg/graph"
	"github.com/rgd-dev/rgd/pkg/render"
	"github.com/rgd-dev/rgd/pkg/schemas"
)

// Version is written on the objects the engine manages
// (kro.run/kro-version); set it at build time.
var Version = "dev"

// Engine runs rgd against one cluster.
type Engine struct {
	cfg     *rest.Config
	opts    Options
	ready   atomic.Bool
	started atomic.Bool
	metrics *metrics.Metrics
	// defaultSA is Options.DefaultServiceAccount parsed; nil when empty.
	defaultSA *graph.ServiceAccount
}

// New builds an engine; nothing runs until Start.
func New(cfg *rest.Config, opts Options) (*Engine, error) {
	if cfg == nil {
		return nil, errors.New("engine.New needs a *rest.Config")
	}
	var defaultSA *graph.ServiceAccount
	if opts.DefaultServiceAccount != "" {
		sa, err := graph.ParseServiceAccount(opts.DefaultServiceAccount)
		if err != nil {
			return nil, fmt.Errorf("engine.Options.DefaultServiceAccount: %w", err)
		}
		defaultSA = &sa
	}
	cfg = rest.CopyConfig(cfg)
	opts.defaults(cfg)
	m := metrics.New(opts.Metrics)
	// Every client of the engine is built from cfg, so this counts the
	// engine's requests, and only its own.
	cfg.Wrap(m.CountRequests)
	return &Engine{cfg: cfg, opts: opts, metrics: m, defaultSA: defaultSA}, nil
}

// Start runs the engine until ctx ends, then stops its workers and informers
// and returns. It returns an error when the engine cannot start. An Engine
// starts once.
func (e *Engine) Start(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("engine: already started")
	}
	c, err := newClients(e.cfg)
	if err != nil {
		return err
	}
	restClient, dyn, ext, kube, meta := c.rest, c.dyn, c.ext, c.kube, c.meta
	log := e.opts.Logger
	// Every step that talks to the API server is retried until it works or
	// ctx ends: one failed request must not stop the engine.
	if e.opts.InstallCRD {
		if err := retry.Until(ctx, log, "installing the ResourceGraphDefinition CRD", e.opts.MaxRetryDelay, func(ctx context.Context) error {
			return installCRD(ctx, ext)
		}); err != nil {
			return stopped(ctx, fmt.Errorf("engine: installing the ResourceGraphDefinition CRD: %w", err))
		}
	}
	resolver, invalidate, err := e.resolver()
	if err != nil {
		return err
	}

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "rgd"})

	watches := watch.NewManager(dyn, watch.Options{Logger: log.WithName("watch"), Metadata: meta})
	defer watches.Stop()
	instances := instance.New(dyn, watches, instance.Options{
		Workers:           e.opts.Workers,
		MaxCollectionSize: e.opts.MaxCollectionSize,
		Logger:            log,
		Metrics:           e.metrics,
		Recorder:          recorder,
		Version:           Version,
		Client:            restClient,
		Identities:        c.ids,
		MaxRetryDelay:     e.opts.MaxRetryDelay,
		EvalObserver:      e.evalObserver(),
	})
	rgds := rgd.New(rgd.Deps{
		Dynamic: dyn, Watches: watches, Instances: instances, Resolver: resolver, Invalidate: invalidate,
		Registrar: registrar.New(ext, registrar.Options{Logger: log.WithName("registrar")}),
	}, rgd.Options{Workers: e.opts.RGDWorkers, AllowCRDDeletion: e.opts.AllowCRDDeletion, Logger: log, Metrics: e.metrics, Recorder: recorder,
		MaxRetryDelay: e.opts.MaxRetryDelay, CompileCache: graph.NewCache(0, 0), StrictCostEstimate: e.opts.StrictCostEstimate,
		DefaultServiceAccount: e.defaultSA, RequireServiceAccount: e.opts.RequireServiceAccount})
	if err := retry.Until(ctx, log, "watching ResourceGraphDefinitions and CRDs", e.opts.MaxRetryDelay, rgds.Start); err != nil {
		return stopped(ctx, fmt.Errorf("engine: %w", err))
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); instances.Run(runCtx) }()
	go func() { defer wg.Done(); rgds.Run(runCtx) }()
	if e.opts.ReleaseMemoryWhenIdle {
		wg.Go(func() { releaseWhenIdle(runCtx, log.WithName("memory")) })
	}
	e.ready.Store(true)
	log.Info("engine started", "workers", e.opts.Workers)
	<-ctx.Done()
	e.ready.Store(false)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		log.Info("engine: workers still busy after 30s; stopping anyway")
	}
	return nil
}

// clients are the engine's connections to the API server.
type clients struct {
	// rest is the REST client under dyn, shared with the instance
	// controller (which reads the API server's answers to creates and
	// deletions): one connection and one rate limit for both.
	rest *rest.RESTClient
	// ids builds rest and the clients that impersonate the ServiceAccounts
	// RGDs name, over rest's transport and rate limiter.
	ids  *instance.Identities
	dyn  dynamic.Interface
	ext  apiextensionsclientset.Interface
	kube kubernetes.Interface
	meta metadata.Interface
}

// newClients builds the clients from cfg; an error is a configuration error.
func newClients(cfg *rest.Config) (*clients, error) {
	ids, err := instance.NewIdentities(cfg)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	restClient := ids.Engine()
	ext, err := apiextensionsclientset.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("engine: apiextensions client: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("engine: client: %w", err)
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("engine: metadata client: %w", err)
	}
	return &clients{rest: restClient, ids: ids, dyn: dynamic.New(restClient), ext: ext, kube: kube, meta: meta}, nil
}

// resolver is the schema resolver of Options, else the cluster's discovery
// backed by the built-in kinds, with what drops its cached schemas.
func (e *Engine) resolver() (schemas.Resolver, func(), error) {
	if e.opts.Resolver != nil {
		return e.opts.Resolver, func() {}, nil
	}
	live, err := schemas.Discovery(e.cfg, schemas.DiscoveryOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("engine: schema discovery: %w", err)
	}
	return schemas.Chain(live, schemas.Builtin()), live.Reset, nil
}

// evalObserver feeds the CEL evaluation histogram, when the engine has
// metrics.
func (e *Engine) evalObserver() render.Observer {
	if e.opts.Metrics == nil {
		return nil
	}
	return func(d time.Duration) { e.metrics.CELEvaluation.Observe(d.Seconds()) }
}

// stopped is Start's result when a start-up step gave up: nil when ctx
// ended (a stop asked for while starting is no failure), else err.
func stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Ready reports whether the engine has synced its caches and runs its
// workers (for /readyz).
func (e *Engine) Ready() bool { return e.ready.Load() }
