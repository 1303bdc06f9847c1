package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// memSample is the engine's memory at one moment.
type memSample struct {
	// rss is its resident set (VmRSS); heap its Go heap in use
	// (go_memstats_heap_inuse_bytes), in bytes.
	rss, heap uint64
}

// engineMemory reads the engine's RSS from /proc and its heap in use from
// its metrics.
func (b *bench) engineMemory(ctx context.Context) (memSample, error) {
	s, err := ReadProc(b.o.procRoot, b.eng.pid())
	if err != nil {
		return memSample{}, err
	}
	m, err := b.eng.scrape(ctx)
	if err != nil {
		return memSample{rss: s.RSS}, err
	}
	return memSample{rss: s.RSS, heap: gauge(m, "go_memstats_heap_inuse_bytes")}, nil
}

func gauge(m Metrics, name string) uint64 { return uint64(m.CounterByLabel(name, "", nil)[""]) }

// bytesPerInstance renders what total bytes come to per instance, over all
// n and above what the engine held with no instance (empty): "14.3 KiB;
// 9.1 KiB above the 48.0 MiB with no instance". Without an empty figure only
// the first.
func bytesPerInstance(total, empty uint64, n int) string {
	all := KiB(float64(total) / float64(n))
	if empty == 0 || empty > total {
		return all
	}
	return fmt.Sprintf("%s; %s above the %s with no instance", all, KiB(float64(total-empty)/float64(n)), MiB(empty))
}

// memoryPhase reports the engine's peak and settled memory at size n, per
// instance too, and the bench's own peak; with --profile-dir, the engine's
// settled heap and its top functions.
func (b *bench) memoryPhase(ctx context.Context, n int) error {
	s, err := ReadProc(b.o.procRoot, b.eng.pid())
	if err != nil {
		return err
	}
	b.add(Row{Scenario: "memory", N: n, Measure: "engine peak RSS (VmHWM) during this size", Value: MiB(s.HWM), Result: Info})
	if m, err := b.eng.scrape(ctx); err == nil {
		inuse := gauge(m, "go_memstats_heap_inuse_bytes")
		b.add(Row{Scenario: "memory", N: n, Measure: "engine Go heap in use / held but free / returned to the OS (settled)",
			Value: fmt.Sprintf("%s / %s / %s", MiB(inuse),
				MiB(gauge(m, "go_memstats_heap_idle_bytes")-gauge(m, "go_memstats_heap_released_bytes")), MiB(gauge(m, "go_memstats_heap_released_bytes"))),
			Result: Info})
		b.add(Row{Scenario: "memory", N: n, Measure: "engine Go heap in use per instance (settled)", Value: bytesPerInstance(inuse, b.empty.heap, n), Result: Info})
	}
	row := Row{Scenario: "memory", N: n, Measure: "engine settled RSS (VmRSS)",
		Value: fmt.Sprintf("%s (%s of it mapped from the binary)", MiB(s.RSS), MiB(s.RSSFile)), Result: Info}
	switch n {
	case 500:
		row.Target = "— (kro 78 MB)"
	case 2000:
		row.Target, row.Result = "< 150 MB", Under(float64(s.RSS), 150e6)
	case 10000:
		row.Target, row.Result = "< 400 MB", Under(float64(s.RSS), 400e6)
	}
	b.add(row)
	b.add(Row{Scenario: "memory", N: n, Measure: "engine settled RSS per instance", Value: bytesPerInstance(s.RSS, b.empty.rss, n), Result: Info})
	if self, err := ReadProc(b.o.procRoot, os.Getpid()); err == nil {
		b.add(Row{Scenario: "memory", N: n, Measure: "bench harness peak RSS (VmHWM) during this size (its informers, the neighbour)", Value: MiB(self.HWM), Result: Info})
	}
	if profiling(b.o.profileDir, b.logf) {
		// Without gc=1: the heap as it stands, garbage included.
		name := fmt.Sprintf("rgd-heap-settled-%d.pprof", n)
		if saveProfile(ctx, b.o.profileDir, name, 0, b.eng.profile("heap"), b.logf) {
			b.heapTop(ctx, n, filepath.Join(b.o.profileDir, name))
		}
	}
	return nil
}

// heapTop writes the ten functions holding most of the settled heap
// (inuse_space; by their own allocations, then cumulatively) next to the
// profile, and names the file in a row. A failure is logged: profiles are
// diagnostics.
func (b *bench) heapTop(ctx context.Context, n int, profile string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	for _, view := range []struct {
		title string
		flags []string
	}{
		{"by the function's own allocations (flat)", []string{"-flat"}},
		{"cumulative (cum)", []string{"-cum"}},
		{"cumulative, rgd's own functions only", []string{"-cum", "-show=github.com/rgd-dev/rgd/"}},
	} {
		fmt.Fprintf(&out, "# engine heap in use at N=%d, top 10 %s\n", n, view.title)
		args := append([]string{"tool", "pprof", "-top", "-nodecount=10", "-sample_index=inuse_space"}, view.flags...)
		cmd := exec.CommandContext(ctx, "go", append(args, b.eng.bin, profile)...)
		cmd.Dir = b.o.repo
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			b.logf("go tool pprof -top %s: %v: %s", profile, err, stderr.String())
			return
		}
		out.WriteString("\n")
	}
	path := profile + ".top.txt"
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		b.logf("heap top: %v", err)
		return
	}
	b.add(Row{Scenario: "memory", N: n, Measure: "where the engine's settled heap goes (top 10 by function)", Value: path, Result: Info})
}
