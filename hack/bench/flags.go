package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rgd-dev/rgd/pkg/engine"
)

// options are the harness's flags.
type options struct {
	out       string
	sizes     []int
	quick     bool
	scenarios map[string]bool
	kwok      bool
	// controllerManager runs kube-controller-manager and kube-scheduler
	// (default: with kwok, not without).
	controllerManager bool
	idle              time.Duration
	// timeout is the longest wait of one phase; zero scales it with N
	// (phaseTimeout).
	timeout     time.Duration
	limits      engineLimits
	concurrency int
	namespaces  int
	repo        string
	procRoot    string
	profileDir  string
	impersonate bool
	// engineIdentity is identityServiceAccount or identityAdmin.
	engineIdentity string
	neighbour      neighbourOptions
	// latencyUpdates is K of the latency scenario.
	latencyUpdates int
	// args are the harness's arguments as given, for the notes.
	args []string
}

// neighbourOptions configure the neighbour scenario's client.
type neighbourOptions struct {
	// identity is identityServiceAccount or identityUser.
	identity string
	// gets and writes are requests per second.
	gets, writes int
	// baseline is the length of the window without rgd.
	baseline time.Duration
}

// The identities the engine and the neighbour can run as.
const (
	identityServiceAccount = "serviceaccount"
	identityAdmin          = "admin"
	identityUser           = "user"
)

var allScenarios = []string{"create", "floor", "update", "neighbour", "latency", "delete", "idle", "memory", "compile"}

// engineLimits are the engine's --workers, --qps and --burst as the harness
// runs it: a nil field is not passed, so that the engine takes its own
// default (pkg/engine).
type engineLimits struct {
	workers *int
	qps     *float64
	burst   *int
}

// args are the engine's flags for the limits that are set.
func (l engineLimits) args() []string {
	var out []string
	if l.workers != nil {
		out = append(out, "--workers", strconv.Itoa(*l.workers))
	}
	if l.qps != nil {
		out = append(out, "--qps", strconv.FormatFloat(*l.qps, 'g', -1, 64))
	}
	if l.burst != nil {
		out = append(out, "--burst", strconv.Itoa(*l.burst))
	}
	return out
}

// note says which limits the engine runs with and where each comes from.
func (l engineLimits) note() string {
	var set, defaults []string
	add := func(isSet bool, flagName, name, value string) {
		if isSet {
			set = append(set, "--"+flagName+" "+value)
		} else {
			defaults = append(defaults, name+" "+value)
		}
	}
	add(l.workers != nil, "workers", "workers", strconv.Itoa(deref(l.workers, engine.DefaultWorkers)))
	add(l.qps != nil, "qps", "QPS", strconv.FormatFloat(deref(l.qps, float64(engine.DefaultQPS)), 'g', -1, 64))
	add(l.burst != nil, "burst", "burst", strconv.Itoa(deref(l.burst, engine.DefaultBurst)))
	switch {
	case len(set) == 0:
		return "engine defaults (" + strings.Join(defaults, ", ") + " from pkg/engine)"
	case len(defaults) == 0:
		return "set: " + strings.Join(set, " ")
	}
	return "set: " + strings.Join(set, " ") + "; engine defaults: " + strings.Join(defaults, ", ") + " (from pkg/engine)"
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{procRoot: "/proc", args: args}
	var sizes, scenarios string
	var workers, burst int
	var qps float64
	fs.StringVar(&o.out, "out", "bench-results.md", "file the results table is written to")
	fs.StringVar(&sizes, "sizes", "100,500", "instance counts, comma-separated (e.g. 100,500,2000)")
	fs.BoolVar(&o.quick, "quick", false, "smoke run: N=50 only and a 15 s idle window")
	fs.StringVar(&scenarios, "scenarios", strings.Join(allScenarios, ","), "scenarios to run, comma-separated: "+strings.Join(allScenarios, ","))
	fs.BoolVar(&o.kwok, "kwok", true, "run kwok so that the Deployments' pods run on fake nodes")
	fs.BoolVar(&o.controllerManager, "controller-manager", true, "run kube-controller-manager and kube-scheduler (default: with --kwok; without it no pod would run, and the controllers' Pending-pod work at their 20 requests a second outlasts a 10,000-instance run)")
	fs.DurationVar(&o.idle, "idle", 60*time.Second, "length of the idle window (and of the baseline window)")
	fs.DurationVar(&o.timeout, "timeout", 0, "longest wait of one phase (default: 5 min + 100 ms per instance, about 22 min at N=10000)")
	fs.IntVar(&workers, "workers", engine.DefaultWorkers, "the engine's --workers (default: not passed, the engine's default)")
	fs.Float64Var(&qps, "qps", engine.DefaultQPS, "the engine's --qps (default: not passed, the engine's default); passed as given, the engine judges it")
	fs.IntVar(&burst, "burst", engine.DefaultBurst, "the engine's --burst (default: not passed, the engine's default)")
	fs.StringVar(&o.engineIdentity, "engine-identity", identityServiceAccount, "whom the engine runs as: serviceaccount (rgd-system/rgd, bound to cluster-admin; its requests go through API Priority and Fairness like a deployed rgd's) or admin (the devcluster's system:masters token, which APF exempts)")
	fs.StringVar(&o.neighbour.identity, "neighbour-identity", identityServiceAccount, "whom the neighbour client runs as: serviceaccount (bench-neighbour/neighbour, APF level workload-low, the engine's) or user (bench-neighbour, impersonated; APF level global-default)")
	fs.IntVar(&o.neighbour.gets, "neighbour-gets", 20, "the neighbour's GETs of one ConfigMap per second")
	fs.IntVar(&o.neighbour.writes, "neighbour-writes", 5, "the neighbour's patches of another ConfigMap per second")
	fs.DurationVar(&o.neighbour.baseline, "neighbour-baseline", 15*time.Second, "length of the neighbour's window without rgd")
	fs.IntVar(&o.latencyUpdates, "latency-updates", 30, "updates of one instance (in turn over a few) timed by the latency scenario")
	fs.IntVar(&o.concurrency, "concurrency", 16, "the client's concurrent requests")
	fs.IntVar(&o.namespaces, "namespaces", 20, "namespaces the instances are spread across")
	fs.StringVar(&o.profileDir, "profile-dir", "", "if set, CPU profiles of the API server and the engine over the first seconds of each create phase and of the engine over each idle window, and the engine's heap after each create phase and once settled (with its top 10 by function), are written there")
	fs.BoolVar(&o.impersonate, "impersonate", false, "the RGD names a ServiceAccount (rgd.dev/service-account) in each namespace, allowed the benchmark's child kinds: the engine writes every child through impersonation")
	fs.StringVar(&o.repo, "repo", ".", "root of the rgd module (where cmd/rgd and pkg/graph are)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if isSet(fs, "workers") {
		o.limits.workers = &workers
	}
	if isSet(fs, "qps") {
		o.limits.qps = &qps
	}
	if isSet(fs, "burst") {
		o.limits.burst = &burst
	}
	if !isSet(fs, "controller-manager") {
		o.controllerManager = o.kwok
	}
	errs := o.parseLists(sizes, scenarios)
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	errs = append(errs, o.validate()...)
	if o.quick {
		o.sizes = []int{50}
		if !isSet(fs, "idle") {
			o.idle = 15 * time.Second
		}
	}
	return o, errors.Join(errs...)
}

// parseLists fills in o.sizes and o.scenarios.
func (o *options) parseLists(sizes, scenarios string) []error {
	var errs []error
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
	return errs
}

// validate checks the flags that parse but make no sense.
func (o *options) validate() []error {
	var errs []error
	if o.concurrency < 1 {
		errs = append(errs, fmt.Errorf("--concurrency: must be at least 1, got %d", o.concurrency))
	}
	if o.namespaces < 1 {
		errs = append(errs, fmt.Errorf("--namespaces: must be at least 1, got %d", o.namespaces))
	}
	if o.idle <= 0 || o.neighbour.baseline <= 0 {
		errs = append(errs, errors.New("--idle and --neighbour-baseline: must be positive"))
	}
	if o.timeout < 0 {
		errs = append(errs, fmt.Errorf("--timeout: must not be negative (0 scales it with N), got %s", o.timeout))
	}
	if o.kwok && !o.controllerManager {
		errs = append(errs, errors.New("--controller-manager=false: needs --kwok=false (with kwok the Deployments' pods must be made and scheduled)"))
	}
	if o.engineIdentity != identityServiceAccount && o.engineIdentity != identityAdmin {
		errs = append(errs, fmt.Errorf("--engine-identity: expected serviceaccount or admin, got %q", o.engineIdentity))
	}
	if o.neighbour.identity != identityServiceAccount && o.neighbour.identity != identityUser {
		errs = append(errs, fmt.Errorf("--neighbour-identity: expected serviceaccount or user, got %q", o.neighbour.identity))
	}
	if o.neighbour.gets < 0 || o.neighbour.writes < 0 || o.neighbour.gets+o.neighbour.writes == 0 {
		errs = append(errs, fmt.Errorf("--neighbour-gets and --neighbour-writes: must not be negative nor both 0, got %d and %d", o.neighbour.gets, o.neighbour.writes))
	}
	if o.latencyUpdates < 1 {
		errs = append(errs, fmt.Errorf("--latency-updates: must be at least 1, got %d", o.latencyUpdates))
	}
	return errs
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// phaseTimeout is the longest wait of one phase at size n: --timeout, else
// 5 minutes plus 100 ms per instance (about 22 minutes at N=10000: creating,
// updating or deleting an instance takes the engine about 6 requests, so
// 10,000 of them take 10 minutes at a QPS of 100).
func (o options) phaseTimeout(n int) time.Duration {
	if o.timeout > 0 {
		return o.timeout
	}
	return 5*time.Minute + time.Duration(n)*100*time.Millisecond
}

// settleTimeout bounds the wait for a quiet cluster at size n: 15 minutes,
// or the phase timeout when that is longer.
func (o options) settleTimeout(n int) time.Duration {
	return max(clusterSettleTimeout, o.phaseTimeout(n))
}

// timeoutNote says how long a phase may wait.
func (o options) timeoutNote() string {
	if o.timeout > 0 {
		return fmt.Sprintf("phase timeout %s (--timeout)", o.timeout)
	}
	parts := make([]string, len(o.sizes))
	for i, n := range o.sizes {
		parts[i] = fmt.Sprintf("%s at N=%d", o.phaseTimeout(n), n)
	}
	return "phase timeout 5 min + 100 ms per instance (" + strings.Join(parts, ", ") + ")"
}
