package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
)

// profileSeconds is how long each create-phase CPU profile runs: the
// profiles start with the phase and cover its busiest part.
const profileSeconds = 8

// startProfiles starts CPU profiles of the API server and the engine when
// dir is set, and returns a function that waits for both and writes them
// to dir as apiserver-N.pprof and rgd-N.pprof. A failed profile is logged,
// not fatal: profiles are diagnostics.
func startProfiles(ctx context.Context, dir string, n int, eng *engineProc, cs kubernetes.Interface, logf func(string, ...any)) func() {
	if dir == "" {
		return func() {}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		logf("profiles: %v", err)
		return func() {}
	}
	var wg sync.WaitGroup
	save := func(name string, fetch func(context.Context) ([]byte, error)) {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(ctx, (profileSeconds+30)*time.Second)
		defer cancel()
		raw, err := fetch(ctx)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), raw, 0o644)
		}
		if err != nil {
			logf("profile %s: %v", name, err)
			return
		}
		logf("profile written: %s", filepath.Join(dir, name))
	}
	wg.Add(2)
	go save(fmt.Sprintf("apiserver-%d.pprof", n), func(ctx context.Context) ([]byte, error) {
		return cs.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").
			Param("seconds", fmt.Sprint(profileSeconds)).DoRaw(ctx)
	})
	go save(fmt.Sprintf("rgd-%d.pprof", n), eng.profile(fmt.Sprintf("profile?seconds=%d", profileSeconds)))
	return func() {
		wg.Wait()
		// The engine's heap with every instance and child cached.
		wg.Add(1)
		save(fmt.Sprintf("rgd-heap-%d.pprof", n), eng.profile("heap?gc=1"))
	}
}

// profile returns a fetcher of the engine's /debug/pprof/<what>.
func (e *engineProc) profile(what string) func(context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) {
		var buf bytes.Buffer
		err := httpGet(ctx, "http://"+e.pprofAddr+"/debug/pprof/"+what, &buf)
		return buf.Bytes(), err
	}
}
