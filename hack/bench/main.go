package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/rgd-dev/rgd/pkg/devcluster"
)

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
	if err := checkEngineFlags(ctx, bin, o.limits.args()); err != nil {
		return rep, err
	}
	logf("starting the control plane (kwok %v, controller manager and scheduler %v)", o.kwok, o.controllerManager)
	cl, err := devcluster.Start(ctx, devcluster.Options{ControllerManager: o.controllerManager, Scheduler: o.controllerManager,
		Kwok: o.kwok, Log: os.Stderr, Profiling: o.profileDir != ""})
	if err != nil {
		return rep, fmt.Errorf("control plane: %w", err)
	}
	defer func() {
		logf("stopping the control plane")
		if serr := cl.Stop(); serr != nil {
			logf("stopping the control plane: %v", serr)
		}
	}()
	b, err := prepare(ctx, o, cl, tmp, &rep, add, logf)
	if err != nil {
		return rep, err
	}
	if err := b.startEngine(ctx, bin, tmp); err != nil {
		return rep, err
	}
	defer func() { logf("stopping rgd controller"); b.eng.stop() }()
	if err := b.startRGD(ctx); err != nil {
		return rep, err
	}
	defer b.w.stopInformers()
	for _, n := range o.sizes {
		if err := b.runSize(ctx, n); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// prepare readies everything that comes before the engine: the workload's
// clients and namespaces, the engine's identity, the neighbour, and the
// windows without the engine (the idle baseline, the neighbour alone).
func prepare(ctx context.Context, o options, cl *devcluster.Cluster, tmp string, rep *Report, add func(Row), logf func(string, ...any)) (*bench, error) {
	w, err := newWorkload(ctx, o, cl)
	if err != nil {
		return nil, err
	}
	b := &bench{o: o, w: w, add: add, logf: logf, kubeconfig: cl.KubeconfigPath(), pids: controlPlanePIDs(o.procRoot, cl.PIDs())}
	who := "the devcluster's admin token (group system:masters, exempt from API Priority and Fairness)"
	if o.engineIdentity == identityServiceAccount {
		logf("the engine's identity: ServiceAccount %s/%s bound to cluster-admin", engineSANamespace, engineSAName)
		if b.kubeconfig, who, err = engineServiceAccount(ctx, w.cs, cl.RESTConfig(), tmp); err != nil {
			return nil, err
		}
		who += ", bound to cluster-admin; a token from the TokenRequest API"
	}
	rep.Notes = append(rep.Notes, fmt.Sprintf("engine runs as %s (--engine-identity=%s)", who, o.engineIdentity))
	if o.scenarios["neighbour"] {
		if b.nb, err = newNeighbour(ctx, w.cs, cl.RESTConfig(), o.neighbour); err != nil {
			return nil, err
		}
	}
	if b.baseline, err = b.measureBaseline(ctx); err != nil {
		return nil, err
	}
	if b.nb != nil {
		logf("neighbour: %s without rgd", o.neighbour.baseline)
		if b.nbBase, err = b.nb.window(ctx, o.neighbour.baseline); err != nil {
			return nil, err
		}
		rep.Notes = append(rep.Notes, b.nb.note(b.nbBase))
		for _, r := range neighbourRows(0, "without rgd (before the engine starts)", b.nbBase, b.nbBase) {
			add(r)
		}
	}
	return b, nil
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

// measureBaseline waits, when the idle or neighbour scenario runs, for the
// new cluster to quieten; it returns, when the idle scenario runs, the API
// server's mutating requests over o.idle before the engine starts; nil
// otherwise.
func (b *bench) measureBaseline(ctx context.Context) (Counts, error) {
	if !b.o.scenarios["idle"] && b.nb == nil {
		return nil, nil
	}
	b.logf("baseline: waiting for the new cluster to quieten (at most %d writes in %s, heartbeats aside)", quietWrites, quietWindow)
	if err := waitClusterQuiet(ctx, b.w.cs, 3*time.Minute); err != nil {
		return nil, fmt.Errorf("the cluster did not quieten before the baseline: %w", err)
	}
	if !b.o.scenarios["idle"] {
		return nil, nil
	}
	b.logf("baseline: the API server's mutating requests over %s without the engine", b.o.idle)
	return serverWindow(ctx, b.w.cs, b.o.idle)
}

// startEngine starts rgd controller and records its process.
func (b *bench) startEngine(ctx context.Context, bin, tmp string) error {
	b.logf("starting rgd controller: %s", b.o.limits.note())
	eng, err := startEngine(ctx, bin, b.kubeconfig, tmp+"/rgd.log", b.o.limits.args())
	if err != nil {
		return err
	}
	b.eng = eng
	b.pids["rgd"] = eng.pid()
	// The bench's own client and informers share the same two cores.
	b.pids["bench client"] = os.Getpid()
	return nil
}

// startRGD creates the RGD, starts the instance informer, and samples the
// engine's memory with no instance yet.
func (b *bench) startRGD(ctx context.Context) error {
	d, err := b.w.applyRGD(ctx)
	if err != nil {
		return err
	}
	b.add(Row{Scenario: "rgd", Measure: "RGD created -> Active, kind served", Value: Seconds(d), Result: Info})
	b.w.startInformers(ctx)
	if b.empty, err = b.engineMemory(ctx); err != nil {
		b.logf("the engine's memory with no instance: %v", err)
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
