package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	cfg := cl.RESTConfig()
	cfg.QPS, cfg.Burst = 5000, 10000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return rep, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return rep, err
	}
	w := &workload{cs: cs, dyn: dyn, concurrency: o.concurrency, progress: os.Stderr}
	for i := 0; i < o.namespaces; i++ {
		w.namespaces = append(w.namespaces, fmt.Sprintf("bench-%d", i))
	}
	if err := w.createNamespaces(ctx); err != nil {
		return rep, err
	}
	if o.kwok {
		if err := createPodNodes(ctx, cs, podNodes(slices.Max(o.sizes))); err != nil {
			return rep, err
		}
	}
	pids := controlPlanePIDs(o.procRoot, cl.PIDs())

	var baseline Counts
	if o.scenarios["idle"] {
		logf("baseline: waiting for the new cluster to quieten (at most %d writes in %s, heartbeats aside)", quietWrites, quietWindow)
		if err := waitClusterQuiet(ctx, cs, 3*time.Minute); err != nil {
			return rep, fmt.Errorf("the cluster did not quieten before the baseline: %w", err)
		}
		logf("baseline: the API server's mutating requests over %s without the engine", o.idle)
		baseline, err = serverWindow(ctx, cs, o.idle)
		if err != nil {
			return rep, err
		}
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

// runSize runs the scenarios at one size N.
func runSize(ctx context.Context, o options, w *workload, eng *engineProc, pids map[string]int, baseline Counts, n int, add func(Row), logf func(string, ...any)) error {
	if err := ResetPeakRSS(o.procRoot, eng.pid()); err != nil {
		logf("could not reset the engine's peak RSS (%v): the peak is over the whole run", err)
	}
	var floor time.Duration
	if o.scenarios["floor"] {
		logf("N=%d floor: %d objects created directly, %d at a time", n, 4*n, o.concurrency)
		var err error
		var cpu cpuTimes
		floor, cpu, err = w.floor(ctx, n, o.timeout, func() cpuTimes { return cpuOf(o.procRoot, pids) })
		if err != nil {
			return err
		}
		add(Row{Scenario: "floor", N: n, Measure: fmt.Sprintf("%d children created directly", 4*n), Value: Seconds(floor), Result: Info})
		add(Row{Scenario: "floor", N: n, Measure: "CPU seconds used while creating them", Value: cpu.String(), Result: Info})
	}

	logf("N=%d create: %d instances, %d at a time", n, n, o.concurrency)
	cpu0 := cpuOf(o.procRoot, pids)
	engine0, server0 := requestCounts(ctx, eng, w.cs)
	profiled := startProfiles(ctx, o.profileDir, n, eng, w.cs, logf)
	create, err := w.createInstances(ctx, n, o.timeout)
	if err != nil {
		return err
	}
	profiled()
	cpu := cpuOf(o.procRoot, pids).sub(cpu0)
	engine1, server1 := requestCounts(ctx, eng, w.cs)
	// Update, settle and delete wait for what the children show. Their
	// informers' first lists come after the create phase's counts.
	w.watchChildren(ctx)
	defer w.stopWatchingChildren()
	row := Row{Scenario: "create", N: n, Measure: "first create -> all ACTIVE", Value: Seconds(create), Result: Info}
	switch n {
	case 500:
		row.Target, row.Result = "≤ 10 s (kro 77 s, tuned 41 s)", AtMost(create.Seconds(), 10)
	case 2000:
		row.Target, row.Result = "≤ 40 s", AtMost(create.Seconds(), 40)
	}
	add(row)
	if floor > 0 {
		ratio := create.Seconds() / floor.Seconds()
		add(Row{Scenario: "create/floor", N: n, Measure: "ratio", Value: fmt.Sprintf("%.2fx", ratio), Target: "≤ 3x", Result: AtMost(ratio, 3)})
	}
	add(Row{Scenario: "create", N: n, Measure: "CPU seconds used while creating", Value: cpu.String(), Result: Info})
	if engine0 != nil && engine1 != nil {
		add(Row{Scenario: "create", N: n, Measure: "engine requests per instance while creating", Value: perInstance(engine1.Sub(engine0), n), Result: Info})
	}
	if server0 != nil && server1 != nil {
		logf("N=%d create: API server requests by verb, resource, subresource and code: %s", n, server1.Sub(server0))
	}

	if o.scenarios["update"] {
		logf("N=%d update: spec.value on every instance", n)
		up, err := w.updateInstances(ctx, n, "v2", o.timeout)
		if err != nil {
			return err
		}
		row := Row{Scenario: "update", N: n, Measure: "patch all -> every ConfigMap and Deployment shows it", Value: Seconds(up), Result: Info}
		if n == 500 {
			row.Target, row.Result = "≤ 10 s", AtMost(up.Seconds(), 10)
		}
		add(row)
	}

	if o.scenarios["idle"] || o.scenarios["memory"] {
		logf("N=%d settling: every Deployment available and shown in its instance, then the engine quiet", n)
		if _, err := w.waitUntil(ctx, "settling", o.timeout, w.settledCheck(n, o.kwok)); err != nil {
			return err
		}
		// Controllers may still be working through what the create phase
		// gave them (at N=2000 without kwok the controller manager, at its
		// default 20 requests a second, needs minutes for the ReplicaSets
		// and Pods): the engine then follows real changes, which is not
		// idle. Wait for the whole cluster to quieten.
		logf("N=%d settling: the cluster quiet (at most %d writes in %s, heartbeats aside)", n, quietWrites, quietWindow)
		start := time.Now()
		err := waitClusterQuiet(ctx, w.cs, clusterSettleTimeout)
		took := time.Since(start)
		value := fmt.Sprintf("%.0f s after the engine", took.Seconds())
		if err != nil {
			logf("N=%d settling: the cluster did not quieten within %s (%v); measuring anyway", n, clusterSettleTimeout, err)
			value = fmt.Sprintf("not within %s", clusterSettleTimeout)
		}
		add(Row{Scenario: "settle", N: n, Measure: "cluster quiet before the idle window", Value: value, Result: Info})
		if err := settle(ctx, eng, 5*time.Second, 3*time.Minute); err != nil {
			return err
		}
	}
	if o.scenarios["idle"] {
		if err := idleWindow(ctx, o, w, eng, baseline, n, add, logf); err != nil {
			return err
		}
	}
	if o.scenarios["memory"] {
		s, err := ReadProc(o.procRoot, eng.pid())
		if err != nil {
			return err
		}
		add(Row{Scenario: "memory", N: n, Measure: "engine peak RSS (VmHWM) during this size", Value: MiB(s.HWM), Result: Info})
		if m, err := eng.scrape(ctx); err == nil {
			gauge := func(name string) uint64 { return uint64(m.CounterByLabel(name, "", nil)[""]) }
			add(Row{Scenario: "memory", N: n, Measure: "engine Go heap in use / held but free / returned to the OS (settled)",
				Value: fmt.Sprintf("%s / %s / %s", MiB(gauge("go_memstats_heap_inuse_bytes")),
					MiB(gauge("go_memstats_heap_idle_bytes")-gauge("go_memstats_heap_released_bytes")), MiB(gauge("go_memstats_heap_released_bytes"))),
				Result: Info})
		}
		row := Row{Scenario: "memory", N: n, Measure: "engine settled RSS (VmRSS)",
			Value: fmt.Sprintf("%s (%s of it mapped from the binary)", MiB(s.RSS), MiB(s.RSSFile)), Result: Info}
		if n == 500 {
			row.Target = "— (kro 78 MB)"
		}
		if n == 2000 {
			row.Target, row.Result = "< 150 MB", Under(float64(s.RSS), 150e6)
		}
		add(row)
		if profiling(o.profileDir, logf) {
			// Without gc=1: the heap as it stands, garbage included.
			saveProfile(ctx, o.profileDir, fmt.Sprintf("rgd-heap-settled-%d.pprof", n), 0, eng.profile("heap"), logf)
		}
	}

	logf("N=%d delete: every instance", n)
	del, err := w.deleteInstances(ctx, n, o.timeout)
	if err != nil {
		return err
	}
	if o.scenarios["delete"] {
		row := Row{Scenario: "delete", N: n, Measure: "delete all -> every child gone", Value: Seconds(del), Result: Info}
		if n == 500 {
			row.Target, row.Result = "≤ 10 s (kro 202 s, tuned 22 s)", AtMost(del.Seconds(), 10)
		}
		add(row)
	}
	return nil
}

// idleWindow measures the engine's writes and CPU over o.idle, and the API
// server's mutating requests in the same window minus the baseline.
func idleWindow(ctx context.Context, o options, w *workload, eng *engineProc, baseline Counts, n int, add func(Row), logf func(string, ...any)) error {
	logf("N=%d idle: %s window", n, o.idle)
	e0, err := eng.mutating(ctx)
	if err != nil {
		return err
	}
	p0, err := ReadProc(o.procRoot, eng.pid())
	if err != nil {
		return err
	}
	profiled := profileIdle(ctx, o.profileDir, n, o.idle, eng, logf)
	server, err := serverWindow(ctx, w.cs, o.idle)
	profiled()
	if err != nil {
		return err
	}
	e1, err := eng.mutating(ctx)
	if err != nil {
		return err
	}
	p1, err := ReadProc(o.procRoot, eng.pid())
	if err != nil {
		return err
	}
	perMin := 60 / o.idle.Seconds()
	engine := e1.Sub(e0)
	add(Row{Scenario: "idle", N: n, Measure: fmt.Sprintf("engine mutating requests in %s (own metrics)", o.idle),
		Value: fmt.Sprintf("%g (%s)", engine.Total(), engine), Target: "0", Result: AtMost(engine.Total(), 0)})
	excess := server.Sub(baseline)
	add(Row{Scenario: "idle", N: n, Measure: fmt.Sprintf("API server mutating requests in %s minus baseline window", o.idle),
		Value: fmt.Sprintf("%g − %g = %g (%s)", server.Total(), baseline.Total(), excess.Total(), excess), Target: "≈ engine's count (cross-check)", Result: Info})
	cpuSec := p1.CPU - p0.CPU
	pct := 100 * cpuSec / o.idle.Seconds()
	add(Row{Scenario: "idle", N: n, Measure: "engine CPU while idle", Value: fmt.Sprintf("%.2f s/min (%.2f%% of a core)", cpuSec*perMin, pct),
		Target: "< 1% of a core", Result: Under(pct, 1)})
	return nil
}

// serverWindow returns the API server's mutating requests, by verb, over d.
func serverWindow(ctx context.Context, cs kubernetes.Interface, d time.Duration) (Counts, error) {
	before, err := serverMutating(ctx, cs)
	if err != nil {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(d):
	}
	after, err := serverMutating(ctx, cs)
	if err != nil {
		return nil, err
	}
	return after.Sub(before), nil
}

// requestCounts reads the engine's requests by verb and the API server's by
// verb, resource and subresource; a failed scrape gives nil, as these are
// diagnostics.
func requestCounts(ctx context.Context, eng *engineProc, cs kubernetes.Interface) (engine, server Counts) {
	if m, err := eng.scrape(ctx); err == nil {
		engine = Counts(m.CounterByLabel("rgd_api_requests_total", "verb", nil))
	}
	if m, err := serverMetrics(ctx, cs); err == nil {
		server = Counts(m.CounterByLabels("apiserver_request_total", "verb", "resource", "subresource", "code"))
	}
	return engine, server
}

// serverMetrics scrapes the API server's /metrics (with the admin token).
func serverMetrics(ctx context.Context, cs kubernetes.Interface) (Metrics, error) {
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("API server /metrics: %w", err)
	}
	m, err := ParseMetrics(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("API server /metrics: %w", err)
	}
	return m, nil
}

// perInstance renders counts divided by n: "GET 4, PATCH 1.2".
func perInstance(c Counts, n int) string {
	out := Counts{}
	for k, v := range c {
		out[k] = math.Round(v/float64(n)*100) / 100
	}
	return out.String()
}

func serverMutating(ctx context.Context, cs kubernetes.Interface) (Counts, error) {
	m, err := serverMetrics(ctx, cs)
	if err != nil {
		return nil, err
	}
	out := Counts{}
	for k, v := range m.CounterByLabels("apiserver_request_total", "verb", "resource") {
		if verb, _, _ := strings.Cut(k, " "); slices.Contains(serverMutatingVerbs, verb) {
			out[k] = v
		}
	}
	return out, nil
}

// The cluster counts as quiet when the API server served at most
// quietWrites mutating requests, other than heartbeats (leases, which every
// component renews every few seconds, and node status), in quietWindow.
const (
	quietWrites          = 2
	quietWindow          = 5 * time.Second
	clusterSettleTimeout = 15 * time.Minute
)

// waitClusterQuiet waits until the cluster is quiet, at most timeout.
func waitClusterQuiet(ctx context.Context, cs kubernetes.Interface, timeout time.Duration) error {
	return poll(ctx, timeout, func() (bool, error) {
		c, err := serverWindow(ctx, cs, quietWindow)
		if err != nil {
			return false, err
		}
		var writes float64
		for k, v := range c {
			if _, resource, _ := strings.Cut(k, " "); resource != "leases" && resource != "nodes" {
				writes += v
			}
		}
		return writes <= quietWrites, nil
	})
}

// settle waits until the engine's mutating request count has not moved for quiet.
func settle(ctx context.Context, eng *engineProc, quiet, timeout time.Duration) error {
	last, err := eng.mutating(ctx)
	if err != nil {
		return err
	}
	since := time.Now()
	return poll(ctx, timeout, func() (bool, error) {
		now, err := eng.mutating(ctx)
		if err != nil {
			return false, err
		}
		if now.Total() != last.Total() {
			last, since = now, time.Now()
		}
		return time.Since(since) >= quiet, nil
	})
}

// cpuTimes are CPU seconds by process name.
type cpuTimes map[string]float64

func cpuOf(root string, pids map[string]int) cpuTimes {
	out := cpuTimes{}
	for name, pid := range pids {
		if s, err := ReadProc(root, pid); err == nil {
			out[name] = s.CPU
		}
	}
	return out
}

func (c cpuTimes) sub(base cpuTimes) cpuTimes {
	out := cpuTimes{}
	for k, v := range c {
		out[k] = v - base[k]
	}
	return out
}

func (c cpuTimes) String() string {
	var parts []string
	for _, k := range []string{"rgd", "kube-apiserver", "etcd", "kube-controller", "kube-scheduler", "kwok", "bench client"} {
		if v, ok := c[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f", k, v))
		}
	}
	return strings.Join(parts, ", ")
}

// controlPlanePIDs names the control plane's processes by their command name
// (comm is cut to 15 characters: kube-controller-manager is kube-controller).
func controlPlanePIDs(root string, pids []int) map[string]int {
	out := map[string]int{}
	for _, pid := range pids {
		if name, err := ProcName(root, pid); err == nil {
			out[name] = pid
		}
	}
	return out
}

// podsPerNode is what kwok lets a node hold, whatever its status says.
const podsPerNode = 110

// podNodes is how many extra kwok nodes n instances need: one pod each, a
// quarter more for rolling updates, beside devcluster's own node.
func podNodes(n int) int { return (n + n/4 + podsPerNode - 1) / podsPerNode }

// createPodNodes adds count kwok-managed nodes (devcluster's own fake node
// holds only 110 pods), so that every Deployment can become Available.
func createPodNodes(ctx context.Context, cs kubernetes.Interface, count int) error {
	res := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   *resource.NewQuantity(podsPerNode, resource.DecimalSI),
	}
	for i := 0; i < count; i++ {
		name := fmt.Sprintf("bench-node-%d", i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
				Labels:      map[string]string{"type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"},
			},
			Status: corev1.NodeStatus{Capacity: res, Allocatable: res, Phase: corev1.NodeRunning},
		}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !isAlreadyExists(err) {
			return fmt.Errorf("creating node %s: %w", name, err)
		}
	}
	return nil
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
		fmt.Sprintf("control plane: pkg/devcluster (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok %v); idle window %s", o.kwok, o.idle),
	}
}
