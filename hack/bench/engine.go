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
	"strings"
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
	// bin is the engine's binary (for go tool pprof).
	bin string
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

// startEngine runs bin as `rgd controller` against kubeconfig, with extra
// flags (the limits that are set), and waits for /readyz. Its log goes to
// logPath.
func startEngine(ctx context.Context, bin, kubeconfig, logPath string, extra []string) (*engineProc, error) {
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
	args := append([]string{"controller",
		"--kubeconfig", kubeconfig,
		"--leader-elect=false",
		"--metrics-bind-address", metricsAddr,
		"--health-probe-bind-address", probeAddr,
		"--pprof-bind-address", pprofAddr,
	}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so a terminal's Ctrl-C reaches only the harness,
	// which then stops the engine; killed with the harness if it dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s controller: %w", bin, err)
	}
	e := &engineProc{cmd: cmd, metricsAddr: metricsAddr, probeAddr: probeAddr, pprofAddr: pprofAddr, done: make(chan struct{}), log: logf, bin: bin}
	go func() { _ = cmd.Wait(); close(e.done) }()
	if err := e.waitReady(ctx, 2*time.Minute); err != nil {
		e.stop()
		return nil, fmt.Errorf("%w; the end of its log (%s):\n%s", err, logPath, logTail(logPath, 20))
	}
	return e, nil
}

// logTail returns the last n lines of the file at path (or why not).
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// usageExit is the exit code of `rgd controller` for flags it refuses.
const usageExit = 2

// checkEngineFlags asks the engine whether it accepts extra, before a
// control plane is started for it: `rgd controller` validates its flags
// before it loads its kubeconfig, so a run against a kubeconfig that does
// not exist exits at once, with usageExit for refused flags. Nothing to
// check without extra flags.
func checkEngineFlags(ctx context.Context, bin string, extra []string) error {
	if len(extra) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	args := append([]string{"controller", "--kubeconfig", filepath.Join(filepath.Dir(bin), "no-such-kubeconfig"),
		"--leader-elect=false", "--metrics-bind-address", "0", "--health-probe-bind-address", "0"}, extra...)
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == usageExit {
		return fmt.Errorf("rgd controller refuses the engine flags %s: %s", strings.Join(extra, " "), strings.TrimSpace(string(out)))
	}
	return nil
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
