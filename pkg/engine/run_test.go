package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
)

func TestLeaderNamespace(t *testing.T) {
	dir := t.TempDir()
	nsFile := filepath.Join(dir, "namespace")
	assert.Equal(t, "default", leaderNamespace("", nsFile), "no file")
	require.NoError(t, os.WriteFile(nsFile, []byte("rgd-system\n"), 0o600))
	assert.Equal(t, "rgd-system", leaderNamespace("", nsFile))
	assert.Equal(t, "other", leaderNamespace("other", nsFile), "the option wins")
	l := LeaderElection{}.withDefaults(nsFile)
	assert.Equal(t, LeaderElection{Namespace: "rgd-system", LeaseName: DefaultLeaseName,
		LeaseDuration: DefaultLeaseDuration, RenewDeadline: DefaultRenewDeadline, RetryPeriod: DefaultRetryPeriod}, l)
}

func TestProbeHandler(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(probeHandler(ready.Load))
	defer srv.Close()
	assert.Equal(t, http.StatusOK, httpStatus(t, srv.URL+"/healthz"))
	assert.Equal(t, http.StatusServiceUnavailable, httpStatus(t, srv.URL+"/readyz"))
	ready.Store(true)
	assert.Equal(t, http.StatusOK, httpStatus(t, srv.URL+"/readyz"))
}

// fakeEngine stands in for the engine: ready while it runs.
type fakeEngine struct {
	ready     atomic.Bool
	started   atomic.Int32
	startErr  error
	ignoreCtx bool
	release   chan struct{} // with ignoreCtx: Start returns once closed
}

func (e *fakeEngine) Start(ctx context.Context) error {
	e.started.Add(1)
	if e.startErr != nil {
		return e.startErr
	}
	e.ready.Store(true)
	defer e.ready.Store(false)
	if e.ignoreCtx {
		<-e.release
		return nil
	}
	<-ctx.Done()
	return nil
}

func (e *fakeEngine) Ready() bool { return e.ready.Load() }

// TestRunOnLocalCluster hosts a fake engine as Run does, against a real
// API server: probes, metrics, the Lease, and shutdown in every way it can
// happen.
func TestRunOnLocalCluster(t *testing.T) {
	devclustertest.RequireCluster(t)
	cfg := devclustertest.Config()
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	lease := func(name string) (string, error) {
		l, err := cs.CoordinationV1().Leases("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if l.Spec.HolderIdentity == nil {
			return "", nil
		}
		return *l.Spec.HolderIdentity, nil
	}
	// host runs fake under o until ctx ends; its result arrives on the
	// returned channel.
	host := func(ctx context.Context, fake *fakeEngine, cfg *rest.Config, logs io.Writer, o RunOptions) <-chan error {
		done := make(chan error, 1)
		log := logr.FromSlogHandler(slog.NewTextHandler(logs, nil))
		go func() { done <- run(ctx, fake, cfg, log, 50*time.Millisecond, o) }()
		return done
	}
	returned := func(t *testing.T, done <-chan error, logs fmt.Stringer) error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(time.Minute):
			t.Fatalf("Run did not return after cancel\nlogs:\n%s", logs)
			return nil
		}
	}

	t.Run("leader runs the engine; probes and metrics; a signal releases the Lease", func(t *testing.T) {
		fake := &fakeEngine{}
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector())
		o := RunOptions{MetricsAddr: freeAddr(t), Metrics: reg, ProbeAddr: freeAddr(t), PprofAddr: freeAddr(t),
			LeaderElection: &LeaderElection{Namespace: "default", LeaseName: "rgd-test-leader"}}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var logs syncBuffer
		done := host(ctx, fake, cfg, &logs, o)

		eventually(t, 30*time.Second, func() error {
			if fake.started.Load() == 0 {
				return errors.New("the engine has not started")
			}
			code, _, err := httpGet("http://" + o.ProbeAddr + "/readyz")
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("/readyz: %d", code)
			}
			return err
		})
		assert.Equal(t, http.StatusOK, httpStatus(t, "http://"+o.ProbeAddr+"/healthz"))
		holder, err := lease("rgd-test-leader")
		require.NoError(t, err)
		assert.NotEmpty(t, holder, "the Lease names its holder")
		code, body, err := httpGet("http://" + o.MetricsAddr + "/metrics")
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, code)
		assert.Contains(t, body, "go_goroutines", "/metrics serves RunOptions.Metrics")
		code, body, err = httpGet("http://" + o.PprofAddr + "/debug/pprof/")
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, code)
		assert.Contains(t, body, "goroutine", "PprofAddr serves the profile index")

		cancel()
		require.NoError(t, returned(t, done, &logs), "logs:\n%s", logs.String())
		assert.EqualValues(t, 1, fake.started.Load())
		holder, err = lease("rgd-test-leader")
		require.NoError(t, err)
		assert.Empty(t, holder, "ReleaseOnCancel gave the Lease up")
		_, _, err = httpGet("http://" + o.ProbeAddr + "/healthz")
		assert.Error(t, err, "the probe server stopped")
	})

	t.Run("a standby replica does not run the engine", func(t *testing.T) {
		fake := &fakeEngine{}
		o := RunOptions{ProbeAddr: freeAddr(t), LeaderElection: &LeaderElection{Namespace: "default", LeaseName: "rgd-test-standby"}}
		held := "someone-else"
		now := metav1.NewMicroTime(time.Now())
		seconds := int32(3600)
		_, err := cs.CoordinationV1().Leases("default").Create(context.Background(), leaseObject("rgd-test-standby", held, now, seconds), metav1.CreateOptions{})
		require.NoError(t, err)

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var logs syncBuffer
		done := host(ctx, fake, cfg, &logs, o)
		eventually(t, 30*time.Second, func() error {
			if !strings.Contains(logs.String(), "another replica leads") {
				return errors.New("no word of the other leader yet")
			}
			return nil
		})
		// Ready as a standby: a rolling update's new pod must turn ready
		// while the old one still holds the Lease.
		assert.Equal(t, http.StatusOK, httpStatus(t, "http://"+o.ProbeAddr+"/readyz"))
		cancel()
		require.NoError(t, returned(t, done, &logs))
		assert.Zero(t, fake.started.Load(), "only the leader runs the engine")
		holder, err := lease("rgd-test-standby")
		require.NoError(t, err)
		assert.Equal(t, held, holder, "a standby never touches the Lease it does not hold")
	})

	t.Run("an engine that fails to start fails Run", func(t *testing.T) {
		var logs syncBuffer
		err := returned(t, host(context.Background(), &fakeEngine{startErr: errors.New("boom")}, cfg, &logs, RunOptions{}), &logs)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "the engine stopped: boom")
	})

	t.Run("an engine that does not stop hits the shutdown timeout", func(t *testing.T) {
		fake := &fakeEngine{ignoreCtx: true, release: make(chan struct{})}
		defer close(fake.release)
		ctx, cancel := context.WithCancel(context.Background())
		var logs syncBuffer
		done := host(ctx, fake, cfg, &logs, RunOptions{ShutdownTimeout: 200 * time.Millisecond})
		eventually(t, 30*time.Second, func() error {
			if !fake.Ready() {
				return errors.New("engine not started")
			}
			return nil
		})
		cancel()
		err := returned(t, done, &logs)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "did not stop within the shutdown timeout")
	})

	t.Run("no API server at the address", func(t *testing.T) {
		fake := &fakeEngine{}
		o := RunOptions{ProbeAddr: freeAddr(t)}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var logs syncBuffer
		done := host(ctx, fake, &rest.Config{Host: "http://" + freeAddr(t)}, &logs, o)
		// It keeps trying, alive and not ready, instead of returning.
		eventually(t, 30*time.Second, func() error {
			if strings.Count(logs.String(), "reaching the API server") < 3 {
				return errors.New("fewer than three attempts logged")
			}
			return nil
		})
		select {
		case err := <-done:
			t.Fatalf("Run returned while the API server was unreachable: %v\nlogs:\n%s", err, logs.String())
		default:
		}
		assert.Equal(t, http.StatusOK, httpStatus(t, "http://"+o.ProbeAddr+"/healthz"))
		assert.Equal(t, http.StatusServiceUnavailable, httpStatus(t, "http://"+o.ProbeAddr+"/readyz"))
		assert.EqualValues(t, 0, fake.started.Load(), "no engine without an API server")
		// A signal ends the wait, and Run returns nil.
		cancel()
		require.NoError(t, returned(t, done, &logs), "logs:\n%s", logs.String())
	})
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	code, _, err := httpGet(url)
	require.NoError(t, err)
	return code
}

func httpGet(url string) (int, string, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// eventually polls check every 100ms until it returns nil or the deadline
// passes, and fails the test with check's last error.
func eventually(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		last = check()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("after %s: %v", timeout, last)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// leaseObject is a Lease held by holder.
func leaseObject(name, holder string, renewed metav1.MicroTime, seconds int32) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       &holder,
			LeaseDurationSeconds: &seconds,
			AcquireTime:          &renewed,
			RenewTime:            &renewed,
		},
	}
}
