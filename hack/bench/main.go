package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/rgd-dev/rgd/pkg/devcluster"
)

// options are the harness's flags.
type options struct {
	out         string
	sizes       []int
	quick       bool
	scenarios   map[string]bool
	kwok        bool
	idle        time.Duration
	timeout     time.Duration
	workers     int
	qps         float64
	burst       int
	concurrency int
	namespaces  int
	repo        string
	procRoot    string
	profileDir  string
	impersonate bool
}

var allScenarios = []string{"create", "floor", "update", "delete", "idle", "memory", "compile"}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{procRoot: "/proc"}
	var sizes, scenarios string
	fs.StringVar(&o.out, "out", "bench-results.md", "file the results table is written to")
	fs.StringVar(&sizes, "sizes", "100,500", "instance counts, comma-separated (e.g. 100,500,2000)")
	fs.BoolVar(&o.quick, "quick", false, "smoke run: N=50 only and a 15 s idle window")
	fs.StringVar(&scenarios, "scenarios", strings.Join(allScenarios, ","), "scenarios to run, comma-separated: "+strings.Join(allScenarios, ","))
	fs.BoolVar(&o.kwok, "kwok", true, "run kwok so that the Deployments' pods run on fake nodes")
	fs.DurationVar(&o.idle, "idle", 60*time.Second, "length of the idle window (and of the baseline window)")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "longest wait of one phase")
	fs.IntVar(&o.workers, "workers", 16, "the engine's --workers")
	fs.Float64Var(&o.qps, "qps", 400, "the engine's --qps")
	fs.IntVar(&o.burst, "burst", 800, "the engine's --burst")
	fs.IntVar(&o.concurrency, "concurrency", 16, "the client's concurrent requests")
	fs.IntVar(&o.namespaces, "namespaces", 20, "namespaces the instances are spread across")
	fs.StringVar(&o.profileDir, "profile-dir", "", "if set, CPU profiles of the API server and the engine over the first seconds of each create phase and of the engine over each idle window, and the engine's heap after each create phase and once settled, are written there")
	fs.BoolVar(&o.impersonate, "impersonate", false, "the RGD names a ServiceAccount (rgd.dev/service-account) in each namespace, allowed the benchmark's child kinds: the engine writes every child through impersonation")
	fs.StringVar(&o.repo, "repo", ".", "root of the rgd module (where cmd/rgd and pkg/graph are)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("--sizes: expected positive integers separated by commas, got %q", s))
			continue
		}
		o.sizes = append(o.sizes, n)
	}
	o.scenarios = map[string]bool{}
	for _, s := range strings.Split(scenarios, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(allScenarios, s) {
			errs = append(errs, fmt.Errorf("--scenarios: unknown scenario %q, expected some of %s", s, strings.Join(allScenarios, ",")))
			continue
		}
		o.scenarios[s] = true
	}
	if o.concurrency < 1 {
		errs = append(errs, fmt.Errorf("--concurrency: must be at least 1, got %d", o.concurrency))
	}
	if o.namespaces < 1 {
		errs = append(errs, fmt.Errorf("--namespaces: must be at least 1, got %d", o.namespaces))
	}
	if o.idle <= 0 || o.timeout <= 0 {
		errs = append(errs, errors.New("--idle and --timeout: must be positive"))
	}
	if o.quick {
		o.sizes = []int{50}
		if !isSet(fs, "idle") {
			o.idle = 15 * time.Second
		}
	}
	return o, errors.Join(errs...)
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, o)
	if len(rep.Rows) > 0 {
		md := rep.Markdown()
		fmt.Print(md)
		if werr := os.WriteFile(o.out, []byte(md), 0o644); werr != nil {
			fmt.Fprintln(os.Stderr, "bench:", werr)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run does the whole benchmark; the rows measured so far are returned even on
// an error. Everything it starts is stopped before it returns.
func run(ctx context.Context, o options) (rep Report, err error) {
	rep.Title = "rgd benchmark results"
	rep.Notes = machineNotes(o)
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...) }
	add := func(r Row) {
		rep.Rows = append(rep.Rows, r)
		logf("  => %s %s: %s (target %s) %s", r.Scenario, r.Measure, r.Value, r.Target, r.Result)
	}

	if o.scenarios["compile"] {
		logf("compile: go test -bench ./pkg/graph")
		rows, err := compileBench(ctx, o.repo)
		if err != nil {
			return rep, err
		}
		for _, r := range rows {
			add(r)
		}
	}
	if !o.scenarios["create"] {
		return rep, nil
	}

	tmp, err := os.MkdirTemp("", "rgd-bench-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(tmp)
	logf("building rgd")
	bin, err := buildEngine(ctx, o.repo, tmp)
	if err != nil {
		return rep, err
	}
	logf("starting the control plane (kwok %v)", o.kwok)
	cl, err := devcluster.Start(ctx, devcluster.Options{ControllerManager: true, Scheduler: true, Kwok: o.kwok, Log: os.Stderr, Profiling: o.profileDir != ""})
	if err != nil {
		return rep, fmt.Errorf("control plane: %w", err)
	}
	defer func() {
		logf("stopping the control plane")
		if serr := cl.Stop(); serr != nil {
			logf("stopping the control plane: %v", serr)
		}
	}()
	w, err := newWorkload(ctx, o, cl)
	if err != nil {
		return rep, err
	}
	pids := controlPlanePIDs(o.procRoot, cl.PIDs())

	baseline, err := measureBaseline(ctx, o, w, logf)
	if err != nil {
		return rep, err
	}

	logf("starting rgd controller (--workers %d --qps %g --burst %d)", o.workers, o.qps, o.burst)
	eng, err := startEngine(ctx, bin, cl.KubeconfigPath(), tmp+"/rgd.log", o.workers, o.qps, o.burst)
	if err != nil {
		return rep, err
	}
	defer func() { logf("stopping rgd controller"); eng.stop() }()
	pids["rgd"] = eng.pid()
	// The bench's own client and informers share the same two cores.
	pids["bench client"] = os.Getpid()

	d, err := w.applyRGD(ctx)
	if err != nil {
		return rep, err
	}
	add(Row{Scenario: "rgd", Measure: "RGD created -> Active, kind served", Value: Seconds(d), Result: Info})
	w.startInformers(ctx)
	defer w.stopInformers()

	for _, n := range o.sizes {
		if err := runSize(ctx, o, w, eng, pids, baseline, n, add, logf); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// newWorkload connects the benchmark's clients to the control plane, creates
// the namespaces and, with kwok, the nodes that the instances' pods need.
func newWorkload(ctx context.Context, o options, cl *devcluster.Cluster) (*workload, error) {
	cfg := cl.RESTConfig()
	cfg.QPS, cfg.Burst = 5000, 10000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	w := &workload{cs: cs, dyn: dyn, concurrency: o.concurrency, progress: os.Stderr, impersonate: o.impersonate}
	for i := 0; i < o.namespaces; i++ {
		w.namespaces = append(w.namespaces, fmt.Sprintf("bench-%d", i))
	}
	if err := w.createNamespaces(ctx); err != nil {
		return nil, err
	}
	if o.impersonate {
		if err := w.createWriters(ctx); err != nil {
			return nil, err
		}
	}
	if o.kwok {
		if err := createPodNodes(ctx, cs, podNodes(slices.Max(o.sizes))); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// measureBaseline returns, when the idle scenario runs, the API server's
// mutating requests over o.idle once the new cluster is quiet, before the
// engine starts; nil otherwise.
func measureBaseline(ctx context.Context, o options, w *workload, logf func(string, ...any)) (Counts, error) {
	if !o.scenarios["idle"] {
		return nil, nil
	}
	logf("baseline: waiting for the new cluster to quieten (at most %d writes in %s, heartbeats aside)", quietWrites, quietWindow)
	if err := waitClusterQuiet(ctx, w.cs, 3*time.Minute); err != nil {
		return nil, fmt.Errorf("the cluster did not quieten before the baseline: %w", err)
	}
	logf("baseline: the API server's mutating requests over %s without the engine", o.idle)
	return serverWindow(ctx, w.cs, o.idle)
}

// compileBench runs the compiler's Go benchmarks and turns them into rows.
func compileBench(ctx context.Context, repo string) ([]Row, error) {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "xxx", "-bench", ".", "-benchmem", "./pkg/graph")
	cmd.Dir = repo
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go test -bench ./pkg/graph: %w\n%s", err, out.String())
	}
	benches, err := ParseGoBench(&out)
	if err != nil {
		return nil, err
	}
	var rows []Row
	for _, b := range benches {
		r := Row{Scenario: "compile", Measure: strings.TrimPrefix(b.Name, "Benchmark"),
			Value:  fmt.Sprintf("%.3f ms/op, %.0f KB/op, %.0f allocs/op", b.NsPerOp/1e6, b.BytesPerOp/1024, b.AllocsPerOp),
			Result: Info}
		switch b.Name {
		case "BenchmarkCompileCartsStack":
			r.Target, r.Result = "< 0.25 ms", Under(b.NsPerOp/1e6, 0.25)
		case "BenchmarkCompileTwentyPods":
			r.Target = "— (kro 4.2–5.7 ms)"
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// machineNotes describes where and how the run happened.
func machineNotes(o options) []string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return []string{
		fmt.Sprintf("run %s on %d cores (%s), %s/%s, %s", time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH, runtime.Version()),
		fmt.Sprintf("engine: rgd controller --workers %d --qps %g --burst %d, a separate process; client: %d concurrent requests over %d namespaces",
			o.workers, o.qps, o.burst, o.concurrency, o.namespaces),
		fmt.Sprintf("children written as: %s", identityNote(o)),
		fmt.Sprintf("control plane: pkg/devcluster (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok %v); idle window %s", o.kwok, o.idle),
	}
}

// identityNote says whose identity the engine writes children with.
func identityNote(o options) string {
	if o.impersonate {
		return "each namespace's ServiceAccount " + writerSA + ", through impersonation (--impersonate)"
	}
	return "the engine's own identity"
}
