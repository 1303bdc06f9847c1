package main

import (
	"context"
	"fmt"
	"time"
)

// runSize runs the scenarios at one size N.
func runSize(ctx context.Context, o options, w *workload, eng *engineProc, pids map[string]int, baseline Counts, n int, add func(Row), logf func(string, ...any)) error {
	if err := ResetPeakRSS(o.procRoot, eng.pid()); err != nil {
		logf("could not reset the engine's peak RSS (%v): the peak is over the whole run", err)
	}
	var floor time.Duration
	if o.scenarios["floor"] {
		var err error
		if floor, err = floorPhase(ctx, o, w, pids, n, add, logf); err != nil {
			return err
		}
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
		if err := updatePhase(ctx, o, w, n, add, logf); err != nil {
			return err
		}
	}

	if o.scenarios["idle"] || o.scenarios["memory"] {
		if err := settlePhase(ctx, o, w, eng, n, add, logf); err != nil {
			return err
		}
	}
	if o.scenarios["idle"] {
		if err := idleWindow(ctx, o, w, eng, baseline, n, add, logf); err != nil {
			return err
		}
	}
	if o.scenarios["memory"] {
		if err := memoryPhase(ctx, o, eng, n, add, logf); err != nil {
			return err
		}
	}

	return deletePhase(ctx, o, w, n, add, logf)
}

// floorPhase creates the children of n instances directly, as the floor that
// the create phase is compared with, and returns how long that took.
func floorPhase(ctx context.Context, o options, w *workload, pids map[string]int, n int, add func(Row), logf func(string, ...any)) (time.Duration, error) {
	logf("N=%d floor: %d objects created directly, %d at a time", n, 4*n, o.concurrency)
	floor, cpu, err := w.floor(ctx, n, o.timeout, func() cpuTimes { return cpuOf(o.procRoot, pids) })
	if err != nil {
		return 0, err
	}
	add(Row{Scenario: "floor", N: n, Measure: fmt.Sprintf("%d children created directly", 4*n), Value: Seconds(floor), Result: Info})
	add(Row{Scenario: "floor", N: n, Measure: "CPU seconds used while creating them", Value: cpu.String(), Result: Info})
	return floor, nil
}

// updatePhase changes spec.value on every instance and measures until every
// child shows it.
func updatePhase(ctx context.Context, o options, w *workload, n int, add func(Row), logf func(string, ...any)) error {
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
	return nil
}

// settlePhase waits until every Deployment is available and shown in its
// instance, the cluster is quiet and the engine has stopped writing.
func settlePhase(ctx context.Context, o options, w *workload, eng *engineProc, n int, add func(Row), logf func(string, ...any)) error {
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
	return nil
}

// memoryPhase reports the engine's peak and settled memory at size n.
func memoryPhase(ctx context.Context, o options, eng *engineProc, n int, add func(Row), logf func(string, ...any)) error {
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
	return nil
}

// deletePhase deletes every instance and, when the delete scenario runs,
// reports how long until every child was gone.
func deletePhase(ctx context.Context, o options, w *workload, n int, add func(Row), logf func(string, ...any)) error {
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
