package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

// bench is one run's state, shared by its phases.
type bench struct {
	o    options
	w    *workload
	eng  *engineProc
	pids map[string]int
	// kubeconfig is what the engine connects with.
	kubeconfig string
	// baseline is the API server's writes over the idle baseline window.
	baseline Counts
	// nb is the neighbour client; nil without the neighbour scenario.
	nb *neighbour
	// nbBase is what the neighbour measured without rgd.
	nbBase neighbourResult
	// empty is the engine's memory before any instance.
	empty memSample
	add   func(Row)
	logf  func(string, ...any)
}

// runSize runs the scenarios at one size N.
func (b *bench) runSize(ctx context.Context, n int) error {
	if err := ResetPeakRSS(b.o.procRoot, b.eng.pid()); err != nil {
		b.logf("could not reset the engine's peak RSS (%v): the peak is over the whole run", err)
	}
	_ = ResetPeakRSS(b.o.procRoot, os.Getpid())
	var floor time.Duration
	if b.o.scenarios["floor"] {
		var err error
		if floor, err = b.floorPhase(ctx, n); err != nil {
			return err
		}
	}
	if err := b.createPhase(ctx, n, floor); err != nil {
		return err
	}
	// Update, settle, latency and delete wait for what the children show.
	// Their informers' first lists come after the create phase's counts.
	b.w.watchChildren(ctx)
	defer b.w.stopWatchingChildren()
	steps := []struct {
		on  bool
		run func(context.Context, int) error
	}{
		{b.o.scenarios["update"], b.updatePhase},
		{b.o.scenarios["idle"] || b.o.scenarios["memory"] || b.o.scenarios["latency"], b.settlePhase},
		{b.o.scenarios["idle"], b.idleWindow},
		{b.o.scenarios["memory"], b.memoryPhase},
		{b.o.scenarios["latency"], b.latencyPhase},
		{true, b.deletePhase},
	}
	for _, s := range steps {
		if !s.on {
			continue
		}
		if err := s.run(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// snapshot is one reading of the request counters: the engine's by verb,
// the API server's by verb, resource, subresource and code, and its APF
// counters. A failed scrape leaves its part nil: these are diagnostics.
type snapshot struct {
	engine, server Counts
	apf            *apfSample
}

func (b *bench) snapshot(ctx context.Context) snapshot {
	s := snapshot{engine: b.engineRequests(ctx)}
	if m, err := serverMetrics(ctx, b.w.cs); err == nil {
		s.server = Counts(m.CounterByLabels("apiserver_request_total", "verb", "resource", "subresource", "code"))
		apf := readAPF(m)
		s.apf = &apf
	}
	return s
}

// engineRequests returns the engine's requests so far by verb; nil when its
// metrics cannot be read (they are diagnostics).
func (b *bench) engineRequests(ctx context.Context) Counts {
	m, err := b.eng.scrape(ctx)
	if err != nil {
		return nil
	}
	return Counts(m.CounterByLabel("rgd_api_requests_total", "verb", nil))
}

// requestsRow adds a row of the engine's requests per instance between two
// readings, and returns their difference; nothing when a reading failed.
func (b *bench) requestsRow(scenario string, n int, measure string, before, after Counts) Counts {
	if before == nil || after == nil {
		return nil
	}
	d := after.Sub(before)
	b.add(Row{Scenario: scenario, N: n, Measure: measure, Value: perInstance(d, n), Result: Info})
	return d
}

// createPhase creates n instances, with the neighbour timing its requests
// meanwhile, and reports how long until all were ACTIVE, against the floor
// when there is one.
func (b *bench) createPhase(ctx context.Context, n int, floor time.Duration) error {
	b.logf("N=%d create: %d instances, %d at a time", n, n, b.o.concurrency)
	cpu0 := cpuOf(b.o.procRoot, b.pids)
	before := b.snapshot(ctx)
	profiled := startProfiles(ctx, b.o.profileDir, n, b.eng, b.w.cs, b.logf)
	nbRun := b.nb.start(ctx)
	create, err := b.w.createInstances(ctx, n, b.o.phaseTimeout(n))
	nb := nbRun.stop()
	if err != nil {
		return err
	}
	// The same window for the engine's, the API server's and the
	// neighbour's counts.
	after := b.snapshot(ctx)
	profiled()
	cpu := cpuOf(b.o.procRoot, b.pids).sub(cpu0)
	row := Row{Scenario: "create", N: n, Measure: "first create -> all ACTIVE", Value: Seconds(create), Result: Info}
	switch n {
	case 500:
		row.Target, row.Result = "≤ 10 s (kro 77 s, tuned 41 s)", AtMost(create.Seconds(), 10)
	case 2000:
		row.Target, row.Result = "≤ 40 s", AtMost(create.Seconds(), 40)
	}
	b.add(row)
	if floor > 0 {
		ratio := create.Seconds() / floor.Seconds()
		b.add(Row{Scenario: "create/floor", N: n, Measure: "ratio", Value: fmt.Sprintf("%.2fx", ratio), Target: "≤ 3x", Result: AtMost(ratio, 3)})
	}
	b.add(Row{Scenario: "create", N: n, Measure: "CPU seconds used while creating", Value: cpu.String(), Result: Info})
	engine := b.requestsRow("create", n, "engine requests per instance while creating", before.engine, after.engine)
	if before.server != nil && after.server != nil {
		b.logf("N=%d create: API server requests by verb, resource, subresource and code: %s", n, after.server.Sub(before.server))
	}
	if before.apf != nil && after.apf != nil {
		apf := after.apf.sub(*before.apf)
		b.add(Row{Scenario: "create", N: n, Measure: "API server requests by APF priority level (flow schema) while creating", Value: apf.String(), Result: Info})
		if engine != nil {
			b.add(engineLevelRow(n, b.o.engineIdentity, apf, engine.Total(), nb.ByLevel))
		}
	}
	if b.nb != nil {
		for _, r := range neighbourRows(n, "during the create phase", nb, b.nbBase) {
			b.add(r)
		}
	}
	return nil
}

// floorPhase creates the children of n instances directly, with the
// neighbour timing its requests meanwhile, as the floor that the create
// phase is compared with, and returns how long that took. It then removes
// them again (untimed).
func (b *bench) floorPhase(ctx context.Context, n int) (time.Duration, error) {
	b.logf("N=%d floor: %d objects created directly, %d at a time", n, 4*n, b.o.concurrency)
	cpu0 := cpuOf(b.o.procRoot, b.pids)
	nbRun := b.nb.start(ctx)
	floor, err := b.w.createFloor(ctx, n)
	nb := nbRun.stop()
	cpu := cpuOf(b.o.procRoot, b.pids).sub(cpu0)
	if err != nil {
		return 0, err
	}
	b.add(Row{Scenario: "floor", N: n, Measure: fmt.Sprintf("%d children created directly", 4*n), Value: Seconds(floor), Result: Info})
	b.add(Row{Scenario: "floor", N: n, Measure: "CPU seconds used while creating them", Value: cpu.String(), Result: Info})
	if b.nb != nil {
		for _, r := range neighbourRows(n, "during the floor's creates", nb, b.nbBase) {
			b.add(r)
		}
	}
	b.w.watchChildren(ctx)
	defer b.w.stopWatchingChildren()
	return floor, b.w.deleteFloor(ctx, b.o.phaseTimeout(n))
}

// updatePhase changes spec.value on every instance and measures until every
// child shows it.
func (b *bench) updatePhase(ctx context.Context, n int) error {
	b.logf("N=%d update: spec.value on every instance", n)
	before := b.engineRequests(ctx)
	up, err := b.w.updateInstances(ctx, n, "v2", b.o.phaseTimeout(n))
	if err != nil {
		return err
	}
	after := b.engineRequests(ctx)
	row := Row{Scenario: "update", N: n, Measure: "patch all -> every ConfigMap and Deployment shows it", Value: Seconds(up), Result: Info}
	if n == 500 {
		row.Target, row.Result = "≤ 10 s", AtMost(up.Seconds(), 10)
	}
	b.add(row)
	b.requestsRow("update", n, "engine requests per instance while updating", before, after)
	return nil
}

// settlePhase waits until every Deployment is available and shown in its
// instance, the cluster is quiet and the engine has stopped writing.
func (b *bench) settlePhase(ctx context.Context, n int) error {
	b.logf("N=%d settling: every Deployment available and shown in its instance, then the engine quiet", n)
	if _, err := b.w.waitUntil(ctx, "settling", b.o.phaseTimeout(n), b.w.settledCheck(n, b.o.kwok)); err != nil {
		return err
	}
	// Controllers may still be working through what the create phase
	// gave them (at N=2000 without kwok the controller manager, at its
	// default 20 requests a second, needs minutes for the ReplicaSets
	// and Pods): the engine then follows real changes, which is not
	// idle. Wait for the whole cluster to quieten.
	limit := b.o.settleTimeout(n)
	b.logf("N=%d settling: the cluster quiet (at most %d writes in %s, heartbeats aside)", n, quietWrites, quietWindow)
	start := time.Now()
	err := waitClusterQuiet(ctx, b.w.cs, limit)
	took := time.Since(start)
	value := fmt.Sprintf("%.0f s after the engine", took.Seconds())
	if err != nil {
		b.logf("N=%d settling: the cluster did not quieten within %s (%v); measuring anyway", n, limit, err)
		value = fmt.Sprintf("not within %s", limit)
	}
	b.add(Row{Scenario: "settle", N: n, Measure: "cluster quiet before the idle window", Value: value, Result: Info})
	return settle(ctx, b.eng, 5*time.Second, max(3*time.Minute, b.o.phaseTimeout(n)))
}

// deletePhase deletes every instance and, when the delete scenario runs,
// reports how long until every child was gone.
func (b *bench) deletePhase(ctx context.Context, n int) error {
	b.logf("N=%d delete: every instance", n)
	before := b.engineRequests(ctx)
	del, err := b.w.deleteInstances(ctx, n, b.o.phaseTimeout(n))
	if err != nil {
		return err
	}
	if b.o.scenarios["delete"] {
		after := b.engineRequests(ctx)
		row := Row{Scenario: "delete", N: n, Measure: "delete all -> every child gone", Value: Seconds(del), Result: Info}
		if n == 500 {
			row.Target, row.Result = "≤ 10 s (kro 202 s, tuned 22 s)", AtMost(del.Seconds(), 10)
		}
		b.add(row)
		b.requestsRow("delete", n, "engine requests per instance while deleting", before, after)
	}
	return nil
}

// idleWindow measures the engine's writes and CPU over o.idle, and the API
// server's mutating requests in the same window minus the baseline.
func (b *bench) idleWindow(ctx context.Context, n int) error {
	o := b.o
	b.logf("N=%d idle: %s window", n, o.idle)
	e0, err := b.eng.mutating(ctx)
	if err != nil {
		return err
	}
	p0, err := ReadProc(o.procRoot, b.eng.pid())
	if err != nil {
		return err
	}
	profiled := profileIdle(ctx, o.profileDir, n, o.idle, b.eng, b.logf)
	server, err := serverWindow(ctx, b.w.cs, o.idle)
	profiled()
	if err != nil {
		return err
	}
	e1, err := b.eng.mutating(ctx)
	if err != nil {
		return err
	}
	p1, err := ReadProc(o.procRoot, b.eng.pid())
	if err != nil {
		return err
	}
	perMin := 60 / o.idle.Seconds()
	engine := e1.Sub(e0)
	b.add(Row{Scenario: "idle", N: n, Measure: fmt.Sprintf("engine mutating requests in %s (own metrics)", o.idle),
		Value: fmt.Sprintf("%g (%s)", engine.Total(), engine), Target: "0", Result: AtMost(engine.Total(), 0)})
	excess := server.Sub(b.baseline)
	b.add(Row{Scenario: "idle", N: n, Measure: fmt.Sprintf("API server mutating requests in %s minus baseline window", o.idle),
		Value: fmt.Sprintf("%g − %g = %g (%s)", server.Total(), b.baseline.Total(), excess.Total(), excess), Target: "≈ engine's count (cross-check)", Result: Info})
	cpuSec := p1.CPU - p0.CPU
	pct := 100 * cpuSec / o.idle.Seconds()
	b.add(Row{Scenario: "idle", N: n, Measure: "engine CPU while idle", Value: fmt.Sprintf("%.2f s/min (%.2f%% of a core)", cpuSec*perMin, pct),
		Target: "< 1% of a core", Result: Under(pct, 1)})
	return nil
}
