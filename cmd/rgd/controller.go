package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	apiversion "k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/rgd-dev/rgd/internal/metrics"
	"github.com/rgd-dev/rgd/internal/retry"
	"github.com/rgd-dev/rgd/pkg/engine"
)

func init() { extraCommands = append(extraCommands, newControllerCommand) }

// serviceAccountNamespaceFile holds the pod's namespace when rgd runs in a cluster.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// Leader election timings: client-go's usual values.
const (
	leaseDuration = 15 * time.Second
	renewDeadline = 10 * time.Second
	retryPeriod   = 2 * time.Second
)

type controllerFlags struct {
	kubeconfig       string
	workers          int
	rgdWorkers       int
	releaseMemory    bool
	gcPercent        int
	qps              float32
	burst            int
	metricsAddr      string
	probeAddr        string
	pprofAddr        string
	leaderElect      bool
	leaderNamespace  string
	leaderID         string
	allowCRDDeletion bool
	installCRDs      bool
	logFormat        string
	verbosity        int
	shutdownTimeout  time.Duration
	maxRetryDelay    time.Duration
}

// runnableEngine is what `rgd controller` needs of an engine; tests replace
// newControllerEngine to run the command around a fake.
type runnableEngine interface {
	Start(ctx context.Context) error
	Ready() bool
}

// newControllerEngine builds the engine `rgd controller` runs.
var newControllerEngine = func(cfg *rest.Config, opts engine.Options) (runnableEngine, error) {
	return engine.New(cfg, opts)
}

func newControllerCommand() *cobra.Command {
	_, inCluster := os.LookupEnv("KUBERNETES_SERVICE_HOST")
	f := controllerFlags{}
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the rgd engine against a cluster, with leader election, metrics and health probes",
		Long: `controller runs the rgd engine as a long-running process: it watches ResourceGraphDefinitions,
serves the kinds they define and reconciles their instances.

It connects with --kubeconfig, else with the in-cluster service account, else with $KUBECONFIG or
~/.kube/config. Only the holder of the leader-election Lease runs the engine. Prometheus metrics are served
at /metrics on --metrics-bind-address, and /healthz and /readyz on --health-probe-bind-address. /readyz
answers 200 once the engine runs, and on a standby replica while it waits for the Lease (so that rolling
updates proceed); 503 while the leader's engine starts and once shutdown has begun. SIGINT or SIGTERM stops
the engine, releases the Lease and exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return &exitError{code: 2, err: err}
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runController(ctx, cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster config, then $KUBECONFIG or ~/.kube/config)")
	fl.IntVar(&f.workers, "workers", 16, "instance reconciles that run at once")
	fl.IntVar(&f.rgdWorkers, "rgd-workers", 2, "ResourceGraphDefinition reconciles that run at once")
	fl.Float32Var(&f.qps, "qps", 100, "queries per second to the API server")
	fl.IntVar(&f.burst, "burst", 200, "burst of queries to the API server")
	fl.StringVar(&f.metricsAddr, "metrics-bind-address", ":8078", `address of /metrics ("0" disables it)`)
	fl.StringVar(&f.probeAddr, "health-probe-bind-address", ":8079", `address of /healthz and /readyz ("0" disables it)`)
	fl.StringVar(&f.pprofAddr, "pprof-bind-address", "0", `address of Go's /debug/pprof profiles ("0", the default, disables it; bind it to loopback)`)
	fl.BoolVar(&f.releaseMemory, "release-memory-when-idle", true, "return the memory freed after a burst of work to the OS as soon as the engine is quiet")
	fl.IntVar(&f.gcPercent, "gc-percent", defaultGCPercent, "Go's GOGC for the engine: how far the heap grows past its live size before a collection (the GOGC environment variable, when set, wins)")
	fl.BoolVar(&f.leaderElect, "leader-elect", inCluster, "run the engine only while holding a Lease (default true in a cluster)")
	fl.StringVar(&f.leaderNamespace, "leader-election-namespace", "", "namespace of the Lease (default: the pod's namespace, else \"default\")")
	fl.StringVar(&f.leaderID, "leader-election-id", "rgd-controller", "name of the Lease")
	fl.BoolVar(&f.installCRDs, "install-crds", true, "create or update the ResourceGraphDefinition CRD at start")
	fl.BoolVar(&f.allowCRDDeletion, "allow-crd-deletion", false, "delete a generated CRD, and so every instance, when its RGD is deleted")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fl.IntVarP(&f.verbosity, "v", "v", 0, "log verbosity (0: info; higher: more detail)")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long to wait for the engine to stop after SIGINT or SIGTERM")
	fl.DurationVar(&f.maxRetryDelay, "max-retry-delay", engine.DefaultMaxRetryDelay, "cap of the exponential backoff with which failed work (a reconcile, a start-up step) is retried")
	return cmd
}

// defaultGCPercent is the engine's GOGC unless told otherwise. Go's default
// (100) lets the heap grow to twice its live size between collections; in
// a burst (thousands of instances created) the caches' long-lived objects
// are then allocated among that much garbage, and once it is collected they
// stay scattered over the spans the peak needed: no release returns a span
// that still holds one live object. The lower the percentage, the fewer the
// spans. Measured at 2000 instances: at 100 -> 50, peak RSS 218 -> 160 MiB
// and settled 153 -> 133 MiB for 13.3 -> 16.1 s of engine CPU in the burst;
// at 50 -> 25 (caches grown since), heap in use once settled 87.5 -> 71.9
// MiB and settled RSS 146.6 -> 135.3 MiB for about 15 -> 19.5 s of engine
// CPU, on a machine whose API server is the bottleneck (create times within
// their run-to-run spread).
const defaultGCPercent = 25

// validate reports every bad flag at once.
func (f controllerFlags) validate() error {
	var errs []error
	if f.workers < 1 {
		errs = append(errs, fmt.Errorf("--workers: must be at least 1, got %d", f.workers))
	}
	if f.rgdWorkers < 1 {
		errs = append(errs, fmt.Errorf("--rgd-workers: must be at least 1, got %d", f.rgdWorkers))
	}
	if f.qps <= 0 {
		errs = append(errs, fmt.Errorf("--qps: must be positive, got %v", f.qps))
	}
	if f.burst < 1 {
		errs = append(errs, fmt.Errorf("--burst: must be at least 1, got %d", f.burst))
	}
	if f.logFormat != "text" && f.logFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format: must be text or json, got %q", f.logFormat))
	}
	if f.verbosity < 0 {
		errs = append(errs, fmt.Errorf("-v: must be 0 or more, got %d", f.verbosity))
	}
	if f.gcPercent <= 0 {
		errs = append(errs, fmt.Errorf("--gc-percent: must be positive, got %d", f.gcPercent))
	}
	if f.maxRetryDelay < 0 {
		errs = append(errs, fmt.Errorf("--max-retry-delay: must not be negative, got %s", f.maxRetryDelay))
	}
	if f.shutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout: must be positive, got %s", f.shutdownTimeout))
	}
	if f.leaderElect && f.leaderID == "" {
		errs = append(errs, errors.New("--leader-election-id: must not be empty with --leader-elect"))
	}
	return errors.Join(errs...)
}

// newLogger returns a logr.Logger writing slog records to w; logr's V(n)
// is slog level -n, so -v n shows V(0) to V(n).
func newLogger(w io.Writer, format string, verbosity int) logr.Logger {
	opts := &slog.HandlerOptions{Level: slog.Level(-verbosity)}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return logr.FromSlogHandler(h)
}

// loadRESTConfig finds the cluster: an explicit kubeconfig, else the
// in-cluster service account, else clientcmd's loading rules.
func loadRESTConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig %s: %w", kubeconfig, err)
		}
		return cfg, nil
	}
	if cfg, err := rest.InClusterConfig(); err == nil {
		return cfg, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("no cluster: not in a cluster, and no usable kubeconfig ($KUBECONFIG or ~/.kube/config): %w", err)
	}
	return cfg, nil
}

// leaderNamespace is the Lease's namespace: the flag, else the pod's, else "default".
func leaderNamespace(flag, nsFile string) string {
	if flag != "" {
		return flag
	}
	if b, err := os.ReadFile(nsFile); err == nil {
		if ns := strings.TrimSpace(string(b)); ns != "" {
			return ns
		}
	}
	return "default"
}

// newRegistry returns the Prometheus registry of the process: Go and process
// collectors and the API request counter (the engine adds its own).
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics.RegisterAPIRequests(reg)
	return reg
}

// serveHTTP listens on addr and serves h until ctx ends; it returns the
// bound address (addr may use port 0). addr "0" or "" disables it.
func serveHTTP(ctx context.Context, wg *sync.WaitGroup, log logr.Logger, what, addr string, h http.Handler) (string, error) {
	if addr == "0" || addr == "" {
		log.Info("disabled", "server", what)
		return "", nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("%s: listening on %s: %w", what, addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(err, "server stopped", "server", what)
		}
	}()
	go func() {
		defer wg.Done()
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	log.Info("serving", "server", what, "address", ln.Addr().String())
	return ln.Addr().String(), nil
}

// pprofHandler serves Go's runtime profiles under /debug/pprof/.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// probeHandler serves /healthz (200 while the process runs) and /readyz
// (200 while ready says so, else 503).
func probeHandler(ready func() bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "engine not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}

// runController runs the engine until ctx ends (or the engine fails, or the
// Lease is lost), then stops it within f.shutdownTimeout.
func runController(ctx context.Context, logOut io.Writer, f controllerFlags) error {
	log := newLogger(logOut, f.logFormat, f.verbosity)
	klog.SetLogger(log.WithName("client-go"))
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(f.gcPercent)
	}
	ctx = logr.NewContext(ctx, log)

	cfg, err := loadRESTConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = f.qps, f.burst
	cfg.UserAgent = "rgd-controller"

	reg := newRegistry()
	eng, err := newControllerEngine(cfg, engine.Options{
		Logger:           log.WithName("engine"),
		Metrics:          reg,
		Workers:          f.workers,
		RGDWorkers:       f.rgdWorkers,
		AllowCRDDeletion: f.allowCRDDeletion,
		InstallCRD:       f.installCRDs,
		MaxRetryDelay:    f.maxRetryDelay,

		ReleaseMemoryWhenIdle: f.releaseMemory,
	})
	if err != nil {
		return fmt.Errorf("creating the engine: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	// The HTTP servers live until the engine has stopped, so that /healthz
	// answers during shutdown.
	serveCtx, stopServing := context.WithCancel(context.Background())
	var servers sync.WaitGroup
	defer func() { stopServing(); servers.Wait() }()
	if _, err := serveHTTP(serveCtx, &servers, log, "metrics", f.metricsAddr,
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})); err != nil {
		return err
	}
	// engineDone receives Start's result once the engine has run. The
	// engine starts at most once, and never after shutdown has begun.
	engineDone := make(chan error, 1)
	var (
		mu    sync.Mutex
		state = engineIdle
	)
	// A replica is ready once its engine is, and, with leader election,
	// while it waits for the Lease: a standby that never turned ready would
	// hold up every rolling update of a Deployment (the new pod waits for
	// the old one's Lease, the old one waits for the new pod to be ready).
	// Until the API server has answered, no replica is ready.
	var connected atomic.Bool
	ready := func() bool {
		if eng.Ready() {
			return true
		}
		mu.Lock()
		defer mu.Unlock()
		return f.leaderElect && state == engineIdle && connected.Load()
	}
	if _, err := serveHTTP(serveCtx, &servers, log, "health probes", f.probeAddr, probeHandler(ready)); err != nil {
		return err
	}
	if _, err := serveHTTP(serveCtx, &servers, log, "pprof", f.pprofAddr, pprofHandler()); err != nil {
		return err
	}
	// An API server that does not answer yet is waited for, not a reason to
	// exit: in a cluster, exiting turns a blip into a CrashLoopBackOff.
	err = retry.Until(ctx, log, "reaching the API server at "+cfg.Host, f.maxRetryDelay, func(ctx context.Context) error {
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
	connected.Store(true)
	runEngine := func(runCtx context.Context) {
		mu.Lock()
		if state != engineIdle {
			mu.Unlock()
			return
		}
		state = engineRunning
		mu.Unlock()
		log.Info("starting the engine", "workers", f.workers, "rgdWorkers", f.rgdWorkers)
		engineDone <- eng.Start(runCtx)
	}
	// closeEngine forbids later starts and says whether the engine ran.
	closeEngine := func() bool {
		mu.Lock()
		defer mu.Unlock()
		ran := state == engineRunning
		state = engineClosed
		return ran
	}

	// electionDone is closed when leader election has ended (never without it).
	electionDone := make(chan struct{})
	stopElection := func() {}
	if !f.leaderElect {
		go runEngine(ctx)
	} else {
		ns := leaderNamespace(f.leaderNamespace, serviceAccountNamespaceFile)
		elector, err := newElector(cs, ns, f.leaderID, log, func(leadCtx context.Context) {
			// Stop on a signal or on losing the Lease, whichever comes first.
			runCtx, cancel := context.WithCancel(leadCtx)
			defer cancel()
			defer context.AfterFunc(ctx, cancel)()
			runEngine(runCtx)
		})
		if err != nil {
			return err
		}
		// The election's context ends only after the engine has stopped, so
		// that the Lease is released (ReleaseOnCancel) once nothing runs.
		electionCtx, cancel := context.WithCancel(klog.NewContext(context.Background(), log.WithName("leader-election")))
		stopElection = cancel
		go func() {
			defer close(electionDone)
			elector.Run(electionCtx)
		}()
		defer cancel()
	}

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-engineDone:
		engineDone <- err // for the wait below
		if err != nil {
			runErr = fmt.Errorf("the engine stopped: %w", err)
		} else {
			runErr = errors.New("the engine stopped unexpectedly")
		}
	case <-electionDone:
		runErr = fmt.Errorf("lost the leader-election Lease %s", f.leaderID)
	}

	deadline := time.NewTimer(f.shutdownTimeout)
	defer deadline.Stop()
	if closeEngine() {
		select {
		case err := <-engineDone:
			if err != nil && runErr == nil && ctx.Err() == nil {
				runErr = fmt.Errorf("the engine stopped: %w", err)
			}
		case <-deadline.C:
			return fmt.Errorf("the engine did not stop within --shutdown-timeout %s", f.shutdownTimeout)
		}
	}
	if f.leaderElect {
		stopElection()
		select {
		case <-electionDone:
		case <-deadline.C:
			return fmt.Errorf("leader election did not stop within --shutdown-timeout %s", f.shutdownTimeout)
		}
	}
	if runErr == nil {
		log.Info("stopped")
	}
	return runErr
}

// serverVersion asks the API server for its version. Unlike discovery's
// ServerVersion, a failure keeps the server's own words: the answer's Status
// is decoded before its body is read.
func serverVersion(ctx context.Context, cs kubernetes.Interface) (*apiversion.Info, error) {
	answer := cs.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx)
	if err := answer.Error(); err != nil {
		return nil, err
	}
	raw, err := answer.Raw()
	if err != nil {
		return nil, err
	}
	info := &apiversion.Info{}
	if err := json.Unmarshal(raw, info); err != nil {
		return nil, fmt.Errorf("reading the API server's version: %w", err)
	}
	return info, nil
}

const (
	engineIdle = iota
	engineRunning
	engineClosed
)

// newElector builds a Lease-based leader elector that calls lead while it
// holds the Lease and releases it when its context ends.
func newElector(cs kubernetes.Interface, namespace, name string, log logr.Logger, lead func(context.Context)) (*leaderelection.LeaderElector, error) {
	host, err := os.Hostname()
	if err != nil {
		host = "rgd"
	}
	identity := host + "_" + string(uuid.NewUUID())
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: namespace, Name: name},
		Client:     cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}
	log.Info("leader election", "lease", namespace+"/"+name, "identity", identity)
	return leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   leaseDuration,
		RenewDeadline:   renewDeadline,
		RetryPeriod:     retryPeriod,
		ReleaseOnCancel: true,
		Name:            name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				log.Info("became the leader", "lease", namespace+"/"+name)
				lead(ctx)
			},
			OnStoppedLeading: func() { log.Info("not leading", "lease", namespace+"/"+name) },
			OnNewLeader: func(id string) {
				if id != identity {
					log.Info("another replica leads", "leader", id)
				}
			},
		},
	})
}
