package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// engineProc is `rgd controller` running as a child process.
type engineProc struct {
	cmd         *exec.Cmd
	metricsAddr string
	probeAddr   string
	pprofAddr   string
	done        chan struct{}
	log         *os.File
}

// buildEngine builds ./cmd/rgd of the module in repo into dir.
func buildEngine(ctx context.Context, repo, dir string) (string, error) {
	bin := filepath.Join(dir, "rgd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/rgd")
	cmd.Dir = repo
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/rgd: %w", err)
	}
	return bin, nil
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startEngine runs bin as `rgd controller` against kubeconfig and waits for
// /readyz. Its log goes to logPath.
func startEngine(ctx context.Context, bin, kubeconfig, logPath string, workers int, qps float64, burst int) (*engineProc, error) {
	metricsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	probeAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	pprofAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "controller",
		"--kubeconfig", kubeconfig,
		"--leader-elect=false",
		"--metrics-bind-address", metricsAddr,
		"--health-probe-bind-address", probeAddr,
		"--pprof-bind-address", pprofAddr,
		"--workers", fmt.Sprint(workers),
		"--qps", fmt.Sprint(qps),
		"--burst", fmt.Sprint(burst),
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so a terminal's Ctrl-C reaches only the harness,
	// which then stops the engine; killed with the harness if it dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s controller: %w", bin, err)
	}
	e := &engineProc{cmd: cmd, metricsAddr: metricsAddr, probeAddr: probeAddr, pprofAddr: pprofAddr, done: make(chan struct{}), log: logf}
	go func() { _ = cmd.Wait(); close(e.done) }()
	if err := e.waitReady(ctx, 2*time.Minute); err != nil {
		e.stop()
		return nil, fmt.Errorf("%w (engine log: %s)", err, logPath)
	}
	return e, nil
}

// pid is the engine's process id.
func (e *engineProc) pid() int { return e.cmd.Process.Pid }

// waitReady polls /readyz until it answers 200, the process exits or the
// deadline passes.
func (e *engineProc) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := httpGet(ctx, "http://"+e.probeAddr+"/readyz", io.Discard); err == nil {
			return nil
		}
		select {
		case <-e.done:
			return errors.New("rgd controller exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("rgd controller not ready at %s/readyz: %w", e.probeAddr, ctx.Err())
		case <-tick.C:
		}
	}
}

// scrape reads the engine's /metrics.
func (e *engineProc) scrape(ctx context.Context) (Metrics, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(httpGet(ctx, "http://"+e.metricsAddr+"/metrics", pw)) }()
	return ParseMetrics(pr)
}

// mutating returns the engine's mutating requests so far, by verb.
func (e *engineProc) mutating(ctx context.Context) (Counts, error) {
	m, err := e.scrape(ctx)
	if err != nil {
		return nil, err
	}
	return Counts(m.CounterByLabel("rgd_api_requests_total", "verb", oneOf(clientMutatingVerbs...))), nil
}

// stop sends SIGTERM and, after ten seconds, SIGKILL; it waits for the exit.
func (e *engineProc) stop() {
	defer e.log.Close()
	select {
	case <-e.done:
		return
	default:
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(10 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.done
	}
}

func httpGet(ctx context.Context, url string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}
