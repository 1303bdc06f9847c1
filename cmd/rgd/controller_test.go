package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/rgd-dev/rgd/pkg/devcluster"
	"github.com/rgd-dev/rgd/pkg/engine"
	"github.com/rgd-dev/rgd/pkg/manifest"
)

func TestControllerFlagsValidateReportsEveryProblem(t *testing.T) {
	f := controllerFlags{workers: 0, rgdWorkers: -1, qps: 0, burst: 0, logFormat: "xml", verbosity: -1, leaderElect: true, maxRetryDelay: -time.Second}
	err := f.validate()
	require.Error(t, err)
	for _, want := range []string{"--workers", "--rgd-workers", "--qps", "--burst", "--log-format", "-v:", "--shutdown-timeout", "--leader-election-id", "--gc-percent", "--max-retry-delay"} {
		assert.Contains(t, err.Error(), want)
	}
	ok := controllerFlags{workers: 16, rgdWorkers: 2, qps: 100, burst: 200, logFormat: "json", shutdownTimeout: time.Second, leaderID: "x", leaderElect: true, gcPercent: 50}
	assert.NoError(t, ok.validate())
}

func TestControllerBadFlagsExitWithUsageError(t *testing.T) {
	assert.Equal(t, 2, run([]string{"controller", "--log-format", "xml"}))
	assert.Equal(t, 2, run([]string{"controller", "--workers", "many"}))
}

func TestLeaderNamespace(t *testing.T) {
	dir := t.TempDir()
	nsFile := filepath.Join(dir, "namespace")
	assert.Equal(t, "default", leaderNamespace("", nsFile), "no file")
	require.NoError(t, os.WriteFile(nsFile, []byte("rgd-system\n"), 0o600))
	assert.Equal(t, "rgd-system", leaderNamespace("", nsFile))
	assert.Equal(t, "other", leaderNamespace("other", nsFile), "the flag wins")
}

func TestNewLoggerFormatAndVerbosity(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, "json", 1)
	log.Info("hello", "k", "v")
	log.V(1).Info("detail")
	log.V(2).Info("hidden")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	assert.Contains(t, lines[0], `"msg":"hello"`)
	assert.Contains(t, lines[0], `"k":"v"`)
	assert.Contains(t, lines[1], `"msg":"detail"`)

	buf.Reset()
	newLogger(&buf, "text", 0).Info("plain")
	assert.Contains(t, buf.String(), "msg=plain")
}

func TestLoadRESTConfigNamesTheKubeconfig(t *testing.T) {
	_, err := loadRESTConfig(filepath.Join(t.TempDir(), "missing"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--kubeconfig")
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
	require.NoError(t, poll(context.Background(), timeout, check))
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

// withFakeEngine makes runController use fake for the rest of the test.
func withFakeEngine(t *testing.T, fake *fakeEngine) {
	t.Helper()
	orig := newControllerEngine
	newControllerEngine = func(*rest.Config, engine.Options) (runnableEngine, error) { return fake, nil }
	t.Cleanup(func() { newControllerEngine = orig })
}

// startTestCluster starts etcd and kube-apiserver for one test.
func startTestCluster(t *testing.T) *devcluster.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts a local control plane, which -short does not")
	}
	require.NoError(t, devcluster.CheckBinaries(devcluster.BinDir(""), devcluster.Etcd, devcluster.KubeAPIServer))
	cluster, err := devcluster.Start(context.Background(), devcluster.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, cluster.Stop()) })
	return cluster
}

// TestControllerOnLocalCluster runs the controller command's loop around a
// fake engine against a real API server: probes, metrics, the Lease, and
// shutdown in every way it can happen.
func TestControllerOnLocalCluster(t *testing.T) {
	cluster := startTestCluster(t)
	cs, err := kubernetes.NewForConfig(cluster.RESTConfig())
	require.NoError(t, err)
	base := controllerFlags{
		kubeconfig: cluster.KubeconfigPath(), workers: 4, rgdWorkers: 1, qps: 50, burst: 100,
		logFormat: "text", shutdownTimeout: 30 * time.Second,
		leaderElect: true, leaderNamespace: "default",
	}
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

	t.Run("leader runs the engine; probes and metrics; SIGTERM releases the Lease", func(t *testing.T) {
		fake := &fakeEngine{}
		withFakeEngine(t, fake)
		f := base
		f.leaderID = "rgd-test-leader"
		f.metricsAddr, f.probeAddr, f.pprofAddr = freeAddr(t), freeAddr(t), freeAddr(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var logs syncBuffer
		done := make(chan error, 1)
		go func() { done <- runController(ctx, &logs, f) }()

		eventually(t, 30*time.Second, func() error {
			if fake.started.Load() == 0 {
				return errors.New("the engine has not started")
			}
			code, _, err := httpGet("http://" + f.probeAddr + "/readyz")
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("/readyz: %d", code)
			}
			return err
		})
		assert.Equal(t, http.StatusOK, httpStatus(t, "http://"+f.probeAddr+"/healthz"))
		holder, err := lease(f.leaderID)
		require.NoError(t, err)
		assert.NotEmpty(t, holder, "the Lease names its holder")
		code, body, err := httpGet("http://" + f.metricsAddr + "/metrics")
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, code)
		assert.Contains(t, body, "rgd_api_requests_total{")
		assert.Contains(t, body, "go_goroutines")
		assert.Contains(t, body, "process_cpu_seconds_total")
		code, body, err = httpGet("http://" + f.pprofAddr + "/debug/pprof/")
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, code)
		assert.Contains(t, body, "goroutine", "--pprof-bind-address serves the profile index")

		cancel()
		select {
		case err := <-done:
			require.NoError(t, err, "logs:\n%s", logs.String())
		case <-time.After(time.Minute):
			t.Fatalf("runController did not return after cancel\nlogs:\n%s", logs.String())
		}
		assert.EqualValues(t, 1, fake.started.Load())
		holder, err = lease(f.leaderID)
		require.NoError(t, err)
		assert.Empty(t, holder, "ReleaseOnCancel gave the Lease up")
		_, _, err = httpGet("http://" + f.probeAddr + "/healthz")
		assert.Error(t, err, "the probe server stopped")
	})

	t.Run("a standby replica does not run the engine", func(t *testing.T) {
		fake := &fakeEngine{}
		withFakeEngine(t, fake)
		f := base
		f.leaderID = "rgd-test-standby"
		f.metricsAddr, f.probeAddr = "0", freeAddr(t)
		held := "someone-else"
		now := metav1.NewMicroTime(time.Now())
		seconds := int32(3600)
		_, err := cs.CoordinationV1().Leases("default").Create(context.Background(), leaseObject(f.leaderID, held, now, seconds), metav1.CreateOptions{})
		require.NoError(t, err)

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var logs syncBuffer
		done := make(chan error, 1)
		go func() { done <- runController(ctx, &logs, f) }()
		eventually(t, 30*time.Second, func() error {
			if !strings.Contains(logs.String(), "another replica leads") {
				return errors.New("no word of the other leader yet")
			}
			return nil
		})
		// Ready as a standby: a rolling update's new pod must turn ready
		// while the old one still holds the Lease.
		assert.Equal(t, http.StatusOK, httpStatus(t, "http://"+f.probeAddr+"/readyz"))
		cancel()
		require.NoError(t, <-done)
		assert.Zero(t, fake.started.Load(), "only the leader runs the engine")
		holder, err := lease(f.leaderID)
		require.NoError(t, err)
		assert.Equal(t, held, holder, "a standby never touches the Lease it does not hold")
	})

	t.Run("an engine that fails to start fails the command", func(t *testing.T) {
		withFakeEngine(t, &fakeEngine{startErr: errors.New("boom")})
		f := base
		f.leaderElect = false
		f.metricsAddr, f.probeAddr = "0", "0"
		err := runController(context.Background(), io.Discard, f)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "the engine stopped: boom")
	})

	t.Run("an engine that does not stop hits --shutdown-timeout", func(t *testing.T) {
		fake := &fakeEngine{ignoreCtx: true, release: make(chan struct{})}
		defer close(fake.release)
		withFakeEngine(t, fake)
		f := base
		f.leaderElect = false
		f.metricsAddr, f.probeAddr = "0", "0"
		f.shutdownTimeout = 200 * time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- runController(ctx, io.Discard, f) }()
		eventually(t, 30*time.Second, func() error {
			if !fake.Ready() {
				return errors.New("engine not started")
			}
			return nil
		})
		cancel()
		err := <-done
		require.Error(t, err)
		assert.Contains(t, err.Error(), "did not stop within --shutdown-timeout")
	})

	t.Run("no cluster at the kubeconfig's address", func(t *testing.T) {
		fake := &fakeEngine{}
		withFakeEngine(t, fake)
		kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
		require.NoError(t, os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://`+freeAddr(t)+`"}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
users: [{name: u, user: {}}]
current-context: c
`), 0o600))
		f := base
		f.kubeconfig = kubeconfig
		f.metricsAddr, f.probeAddr = "0", freeAddr(t)
		f.maxRetryDelay = 50 * time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var logs syncBuffer
		done := make(chan error, 1)
		go func() { done <- runController(ctx, &logs, f) }()
		// It keeps trying, alive and not ready, instead of exiting.
		eventually(t, 30*time.Second, func() error {
			if strings.Count(logs.String(), "reaching the API server") < 3 {
				return errors.New("fewer than three attempts logged")
			}
			return nil
		})
		select {
		case err := <-done:
			t.Fatalf("runController exited while the API server was unreachable: %v\nlogs:\n%s", err, logs.String())
		default:
		}
		assert.Equal(t, http.StatusOK, httpStatus(t, "http://"+f.probeAddr+"/healthz"))
		assert.Equal(t, http.StatusServiceUnavailable, httpStatus(t, "http://"+f.probeAddr+"/readyz"))
		assert.EqualValues(t, 0, fake.started.Load(), "no engine without an API server")
		// A signal ends the wait, and the process exits 0.
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err, "logs:\n%s", logs.String())
		case <-time.After(time.Minute):
			t.Fatalf("runController did not return after cancel\nlogs:\n%s", logs.String())
		}
	})
}

// TestControllerCommand builds rgd and runs `rgd controller` with the real
// engine against a local API server: /healthz, /metrics, /readyz (which
// needs the engine to start), and exit 0 on SIGTERM.
func TestControllerCommand(t *testing.T) {
	cluster := startTestCluster(t)
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "rgd")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	// The RGD CRD is installed with rgd (as `rgd dev` does), not by the engine.
	dyn, err := dynamic.NewForConfig(cluster.RESTConfig())
	require.NoError(t, err)
	ap, err := newApplier(cluster.RESTConfig(), dyn)
	require.NoError(t, err)
	require.NoError(t, ap.setup(context.Background(), func(string, ...any) {}, nil))

	metricsAddr, probeAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(bin, "controller", "--kubeconfig", cluster.KubeconfigPath(),
		"--metrics-bind-address", metricsAddr, "--health-probe-bind-address", probeAddr,
		"--leader-elect", "--leader-election-namespace", "default", "--log-format", "json")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() }) // no-op once it has exited
	// up polls url until it answers 200, failing at once if rgd exits.
	up := func(url string) string {
		var body string
		var gone bool
		var exitErr error
		err := poll(context.Background(), time.Minute, func() error {
			select {
			case exitErr = <-exited:
				exited <- exitErr
				gone = true
				return nil // stop polling: reported below
			default:
			}
			code, b, err := httpGet(url)
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("%s: %d %s", url, code, b)
			}
			body = b
			return err
		})
		require.NoError(t, err, "logs:\n%s", logs.String())
		if gone {
			t.Fatalf("rgd controller exited early (%v) while waiting for %s\nlogs:\n%s", exitErr, url, logs.String())
		}
		return body
	}
	up("http://" + probeAddr + "/healthz")
	assert.Contains(t, up("http://"+metricsAddr+"/metrics"), "rgd_api_requests_total{")
	up("http://" + probeAddr + "/readyz")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "exit status after SIGTERM\nlogs:\n%s", logs.String())
	case <-time.After(time.Minute):
		t.Fatalf("rgd controller did not exit within 1m of SIGTERM\nlogs:\n%s", logs.String())
	}
	cs, err := kubernetes.NewForConfig(cluster.RESTConfig())
	require.NoError(t, err)
	l, err := cs.CoordinationV1().Leases("default").Get(context.Background(), "rgd-controller", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		require.NoError(t, err)
		assert.True(t, l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "", "the Lease is released")
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

// TestDeployManifestArgs parses the arguments of deploy/deployment.yaml
// with the controller's own flags, so that a renamed flag cannot leave the
// manifests starting a process that exits on its first line.
func TestDeployManifestArgs(t *testing.T) {
	docs, err := manifest.ReadFile("../../deploy/deployment.yaml")
	require.NoError(t, err)
	require.Len(t, docs, 1)
	var dep appsv1.Deployment
	require.NoError(t, json.Unmarshal(docs[0].JSON, &dep))
	require.Len(t, dep.Spec.Template.Spec.Containers, 1)
	args := dep.Spec.Template.Spec.Containers[0].Args
	require.NotEmpty(t, args)
	require.Equal(t, "controller", args[0])

	cmd := newControllerCommand()
	require.NoError(t, cmd.ParseFlags(args[1:]), "deploy/deployment.yaml: %v", args)
	timeout, err := cmd.Flags().GetDuration("shutdown-timeout")
	require.NoError(t, err)
	grace := dep.Spec.Template.Spec.TerminationGracePeriodSeconds
	require.NotNil(t, grace)
	assert.Less(t, timeout, time.Duration(*grace)*time.Second,
		"the kubelet must not kill rgd before --shutdown-timeout has let it hand the Lease over")
	for _, name := range []string{"metrics-bind-address", "health-probe-bind-address"} {
		addr, err := cmd.Flags().GetString(name)
		require.NoError(t, err)
		_, port, err := net.SplitHostPort(addr)
		require.NoError(t, err)
		found := false
		for _, p := range dep.Spec.Template.Spec.Containers[0].Ports {
			found = found || fmt.Sprint(p.ContainerPort) == port
		}
		assert.True(t, found, "--%s %s is a container port", name, addr)
	}
}
