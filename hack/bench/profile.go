package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
)

// profileSeconds is how long each create-phase CPU profile runs: the
// profiles start with the phase and cover its busiest part.
const profileSeconds = 8

// startProfiles starts CPU profiles of the API server, the engine and the
// bench itself when dir is set, and returns a function that waits for them
// and writes them to dir as apiserver-N.pprof, rgd-N.pprof and
// bench-N.pprof. A failed profile is logged,
// not fatal: profiles are diagnostics.
func startProfiles(ctx context.Context, dir string, n int, eng *engineProc, cs kubernetes.Interface, logf func(string, ...any)) func() {
	if !profiling(dir, logf) {
		return func() {}
	}
	var wg sync.WaitGroup
	save := func(name string, fetch func(context.Context) ([]byte, error)) {
		defer wg.Done()
		saveProfile(ctx, dir, name, profileSeconds*time.Second, fetch, logf)
	}
	wg.Add(2)
	go save(fmt.Sprintf("apiserver-%d.pprof", n), func(ctx context.Context) ([]byte, error) {
		return cs.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").
			Param("seconds", fmt.Sprint(profileSeconds)).DoRaw(ctx)
	})
	go save(fmt.Sprintf("rgd-%d.pprof", n), eng.profile(fmt.Sprintf("profile?seconds=%d", profileSeconds)))
	wg.Add(1)
	go save(fmt.Sprintf("bench-%d.pprof", n), selfProfile)
	return func() {
		wg.Wait()
		// The engine's heap with every instance and child cached.
		wg.Add(1)
		save(fmt.Sprintf("rgd-heap-%d.pprof", n), eng.profile("heap?gc=1"))
	}
}

// profileIdle starts a CPU profile of the engine over the idle window when
// dir is set, and returns a function that waits for it and writes it to dir
// as rgd-idle-N.pprof. The profiler's own sampling is part of the CPU the
// window measures, so profiled runs are diagnostics, not results.
func profileIdle(ctx context.Context, dir string, n int, window time.Duration, eng *engineProc, logf func(string, ...any)) func() {
	if !profiling(dir, logf) {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		seconds := max(1, int(window.Seconds()))
		saveProfile(ctx, dir, fmt.Sprintf("rgd-idle-%d.pprof", n), window, eng.profile(fmt.Sprintf("profile?seconds=%d", seconds)), logf)
	}()
	return func() { <-done }
}

// profiling reports whether profiles are wanted (dir is set) and dir
// exists or was created.
func profiling(dir string, logf func(string, ...any)) bool {
	if dir == "" {
		return false
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		logf("profiles: %v", err)
		return false
	}
	return true
}

// saveProfile fetches a profile that runs for about length and writes it to
// dir/name, logging a failure: profiles are diagnostics. It reports whether
// the profile was written.
func saveProfile(ctx context.Context, dir, name string, length time.Duration, fetch func(context.Context) ([]byte, error), logf func(string, ...any)) bool {
	ctx, cancel := context.WithTimeout(ctx, length+30*time.Second)
	defer cancel()
	raw, err := fetch(ctx)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, name), raw, 0o644)
	}
	if err != nil {
		logf("profile %s: %v", name, err)
		return false
	}
	logf("profile written: %s", filepath.Join(dir, name))
	return true
}

// selfProfile profiles the bench's own process (its client and informers)
// for profileSeconds.
func selfProfile(ctx context.Context) ([]byte, error) {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		return nil, err
	}
	select {
	case <-time.After(profileSeconds * time.Second):
	case <-ctx.Done():
	}
	pprof.StopCPUProfile()
	return buf.Bytes(), ctx.Err()
}

// profile returns a fetcher of the engine's /debug/pprof/<what>.
func (e *engineProc) profile(what string) func(context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) {
		var buf bytes.Buffer
		err := httpGet(ctx, "http://"+e.pprofAddr+"/debug/pprof/"+what, &buf)
		return buf.Bytes(), err
	}
}
