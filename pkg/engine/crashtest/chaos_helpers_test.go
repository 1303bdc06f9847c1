package crashtest_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// maxUnexpectedExits stops the restarts of an engine that keeps exiting:
// past it, the test has seen enough.
const maxUnexpectedExits = 25

// engineReadyTimeout is how long a (re)started engine may take to answer
// /readyz: through the fault proxy its start may need several tries.
const engineReadyTimeout = 120 * time.Second

// chaosEngine runs `rgd controller` against a kubeconfig (the fault
// proxy's), restarts it right after every kill the test makes, and, when it
// exits on its own (it should exit only when killed), records the exit with
// the end of its log and restarts it too, so that the scenario can go on and
// say what else went wrong.
type chaosEngine struct {
	t          *testing.T
	bin        string
	logPath    string
	kubeconfig string
	extra      []string
	began      time.Time

	mu         sync.Mutex
	cur        *engineProcess
	killed     map[*engineProcess]bool
	unexpected []string
	kills      int
	closed     bool
	watchers   sync.WaitGroup
}

// startChaosEngine starts the engine and waits until it is ready. It is
// stopped when the test ends.
func startChaosEngine(t *testing.T, bin, logPath, kubeconfig string, extra ...string) *chaosEngine {
	t.Helper()
	e := &chaosEngine{t: t, bin: bin, logPath: logPath, kubeconfig: kubeconfig, extra: extra,
		began: time.Now(), killed: map[*engineProcess]bool{}}
	e.mu.Lock()
	err := e.launchLocked()
	e.mu.Unlock()
	require.NoError(t, err)
	t.Cleanup(e.close)
	e.waitReady()
	return e
}

// pickAddr returns a loopback address with a port that was free a moment ago.
func pickAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// launchLocked starts a process without waiting for it to be ready, and a
// goroutine that notices when it exits. e.mu is held.
func (e *chaosEngine) launchLocked() error {
	probe, err := pickAddr()
	if err != nil {
		return err
	}
	p := &engineProcess{t: e.t, done: make(chan struct{}), probe: probe}
	args := append([]string{"controller",
		"--kubeconfig", e.kubeconfig,
		"--leader-elect=false",
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", probe,
	}, e.extra...)
	logFile, err := os.OpenFile(e.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logFile, "==== %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	p.cmd = exec.Command(e.bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		_ = logFile.Close()
		return err
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	e.cur = p
	e.watchers.Add(1)
	go e.watch(p)
	return nil
}

// watch waits for p to exit; an exit the test did not cause is recorded,
// and the engine restarted.
func (e *chaosEngine) watch(p *engineProcess) {
	defer e.watchers.Done()
	<-p.done
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.killed[p] || e.closed {
		return
	}
	at := time.Since(e.began).Round(100 * time.Millisecond)
	last := strings.TrimSpace(tail(e.logPath, 1))
	e.unexpected = append(e.unexpected, fmt.Sprintf("at %s (%v): %s", at, p.waitErr, last))
	e.t.Logf("UNEXPECTED EXIT of the engine %s into the seed: %v; end of its log:\n%s", at, p.waitErr, tail(e.logPath, 30))
	if len(e.unexpected) >= maxUnexpectedExits {
		e.t.Errorf("the engine exited by itself %d times; not restarting it again", len(e.unexpected))
		return
	}
	if err := e.launchLocked(); err != nil {
		e.t.Errorf("restarting the engine after it exited: %v", err)
	}
}

// current is the process running now.
func (e *chaosEngine) current() *engineProcess {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cur
}

// waitReady waits until the running process answers /readyz (following
// restarts after unexpected exits).
func (e *chaosEngine) waitReady() {
	e.t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	poll(e.t, engineReadyTimeout, 100*time.Millisecond, "rgd controller ready", func() (bool, string) {
		resp, err := client.Get("http://" + e.current().probe + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// killAndRestart SIGKILLs the engine, starts it again at once and waits
// until it is ready.
func (e *chaosEngine) killAndRestart() {
	e.t.Helper()
	e.mu.Lock()
	p := e.cur
	e.killed[p] = true
	e.mu.Unlock()
	p.kill()
	e.mu.Lock()
	e.kills++
	err := e.launchLocked()
	e.mu.Unlock()
	require.NoError(e.t, err, "restarting the engine after a kill")
	e.waitReady()
}

// unexpectedExits describes every exit the test did not cause.
func (e *chaosEngine) unexpectedExits() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.unexpected...)
}

// killCount is the number of kills so far.
func (e *chaosEngine) killCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.kills
}

// close kills the engine for good and waits for the watching goroutines.
func (e *chaosEngine) close() {
	e.mu.Lock()
	e.closed = true
	p := e.cur
	e.killed[p] = true
	e.mu.Unlock()
	p.kill()
	e.watchers.Wait()
}

// poll calls cond every interval until it holds, and fails the test after
// timeout with what it waited for and cond's last observation. It is
// Eventually with a longer interval, for conditions that cost several
// API calls.
func poll(t *testing.T, timeout, interval time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	if ok, last := pollUntil(timeout, interval, cond); !ok {
		t.Fatalf("timed out after %s waiting for %s; last seen:\n%s", timeout, what, last)
	}
}

// pollUntil calls cond every interval until it holds or timeout passes,
// and returns whether it held and its last observation.
func pollUntil(timeout, interval time.Duration, cond func() (bool, string)) (bool, string) {
	deadline := time.Now().Add(timeout)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	last := ""
	for {
		ok, obs := cond()
		if ok {
			return true, obs
		}
		last = obs
		if time.Now().After(deadline) {
			return false, last
		}
		<-ticker.C
	}
}
