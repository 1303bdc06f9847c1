package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/rgd-dev/rgd/pkg/engine"
	"github.com/rgd-dev/rgd/pkg/graph"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

func init() { extraCommands = append(extraCommands, newControllerCommand) }

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
	strictCost       bool
	defaultSA        string
	requireSA        bool
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
	fl.IntVar(&f.workers, "workers", engine.DefaultWorkers, "instance reconciles that run at once")
	fl.IntVar(&f.rgdWorkers, "rgd-workers", engine.DefaultRGDWorkers, "ResourceGraphDefinition reconciles that run at once")
	fl.Float32Var(&f.qps, "qps", engine.DefaultQPS, "queries per second to the API server (negative: no limit of the engine's own; the API server's priority and fairness still applies)")
	fl.IntVar(&f.burst, "burst", engine.DefaultBurst, "burst of queries to the API server")
	fl.StringVar(&f.metricsAddr, "metrics-bind-address", engine.DefaultMetricsAddr, `address of /metrics ("0" disables it)`)
	fl.StringVar(&f.probeAddr, "health-probe-bind-address", engine.DefaultProbeAddr, `address of /healthz and /readyz ("0" disables it)`)
	fl.StringVar(&f.pprofAddr, "pprof-bind-address", "0", `address of Go's /debug/pprof profiles ("0", the default, disables it; bind it to loopback)`)
	fl.BoolVar(&f.releaseMemory, "release-memory-when-idle", true, "return the memory freed after a burst of work to the OS as soon as the engine is quiet")
	fl.IntVar(&f.gcPercent, "gc-percent", defaultGCPercent, "Go's GOGC for the engine: how far the heap grows past its live size before a collection (the GOGC environment variable, when set, wins)")
	fl.BoolVar(&f.leaderElect, "leader-elect", inCluster, "run the engine only while holding a Lease (default true in a cluster)")
	fl.StringVar(&f.leaderNamespace, "leader-election-namespace", "", "namespace of the Lease (default: the pod's namespace, else \"default\")")
	fl.StringVar(&f.leaderID, "leader-election-id", engine.DefaultLeaseName, "name of the Lease")
	fl.BoolVar(&f.installCRDs, "install-crds", true, "create or update the ResourceGraphDefinition CRD at start")
	fl.BoolVar(&f.allowCRDDeletion, "allow-crd-deletion", false, "delete a generated CRD, and so every instance, when its RGD is deleted")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fl.IntVarP(&f.verbosity, "v", "v", 0, "log verbosity (0: info; higher: more detail)")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", engine.DefaultShutdownTimeout, "how long to wait for the engine to stop after SIGINT or SIGTERM")
	fl.DurationVar(&f.maxRetryDelay, "max-retry-delay", engine.DefaultMaxRetryDelay, "cap of the exponential backoff with which failed work (a reconcile, a start-up step) is retried")
	fl.BoolVar(&f.strictCost, "strict-cost-estimate", false, "reject RGDs with an expression whose estimated CEL cost is above the limit (default: run them, with a warning)")
	fl.StringVar(&f.defaultSA, "default-service-account", "", "ServiceAccount that writes the children of RGDs without the "+metadata.AnnotationServiceAccount+
		" annotation, through impersonation: NAME (in each instance's namespace) or NAMESPACE/NAME (default: the engine's own identity)")
	fl.BoolVar(&f.requireSA, "require-service-account", false, "refuse RGDs that name no ServiceAccount (annotation "+metadata.AnnotationServiceAccount+
		") when there is no --default-service-account: the engine then never writes a child with its own identity")
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
	if f.qps == 0 {
		errs = append(errs, fmt.Errorf("--qps: must be positive, or negative for no limit of the engine's own, got %v", f.qps))
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
	if f.defaultSA != "" {
		if _, err := graph.ParseServiceAccount(f.defaultSA); err != nil {
			errs = append(errs, fmt.Errorf("--default-service-account: %w", err))
		}
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

// newRegistry returns the Prometheus registry of the process with the Go
// and process collectors (the engine adds its own).
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// runController runs the engine as engine.Run hosts it, with the options
// the flags give, until ctx ends (or the engine fails, or the Lease is
// lost). What it sets itself is the process's: logging, GOGC, the metrics
// registry's Go and process collectors.
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
	cfg.UserAgent = "rgd-controller"
	reg := newRegistry()
	eng, err := engine.New(cfg, engine.Options{
		Logger:           log.WithName("engine"),
		Metrics:          reg,
		Workers:          f.workers,
		RGDWorkers:       f.rgdWorkers,
		QPS:              f.qps,
		Burst:            f.burst,
		AllowCRDDeletion: f.allowCRDDeletion,
		InstallCRD:       f.installCRDs,
		MaxRetryDelay:    f.maxRetryDelay,

		ReleaseMemoryWhenIdle: f.releaseMemory,
		StrictCostEstimate:    f.strictCost,
		DefaultServiceAccount: f.defaultSA,
		RequireServiceAccount: f.requireSA,
	})
	if err != nil {
		return fmt.Errorf("creating the engine: %w", err)
	}
	run := engine.RunOptions{
		MetricsAddr:     f.metricsAddr,
		Metrics:         reg,
		ProbeAddr:       f.probeAddr,
		PprofAddr:       f.pprofAddr,
		ShutdownTimeout: f.shutdownTimeout,
	}
	if f.leaderElect {
		run.LeaderElection = &engine.LeaderElection{Namespace: f.leaderNamespace, LeaseName: f.leaderID}
	}
	return eng.Run(ctx, run)
}
