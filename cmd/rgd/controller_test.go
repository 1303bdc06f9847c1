package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/rgd-dev/rgd/internal/applier"
	"github.com/rgd-dev/rgd/pkg/devcluster"
	"github.com/rgd-dev/rgd/pkg/manifest"
)

func TestControllerFlagsValidateReportsEveryProblem(t *testing.T) {
	f := controllerFlags{workers: 0, rgdWorkers: -1, qps: 0, burst: 0, logFormat: "xml", verbosity: -1, leaderElect: true, maxRetryDelay: -time.Second,
		defaultSA: "a/b/c"}
	err := f.validate()
	require.Error(t, err)
	for _, want := range []string{"--workers", "--rgd-workers", "--qps", "--burst", "--log-format", "-v:", "--shutdown-timeout", "--leader-election-id", "--gc-percent", "--max-retry-delay",
		"--default-service-account"} {
		assert.Contains(t, err.Error(), want)
	}
	ok := controllerFlags{workers: 16, rgdWorkers: 2, qps: 100, burst: 200, logFormat: "json", shutdownTimeout: time.Second, leaderID: "x", leaderElect: true, gcPercent: 50,
		defaultSA: "tenants/writer", requireSA: true}
	assert.NoError(t, ok.validate())
	ok.qps = -1
	assert.NoError(t, ok.validate(), "a negative --qps turns the engine's own limit off")
}

func TestControllerBadFlagsExitWithUsageError(t *testing.T) {
	assert.Equal(t, 2, run([]string{"controller", "--log-format", "xml"}))
	assert.Equal(t, 2, run([]string{"controller", "--workers", "many"}))
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
	ap, err := applier.New(cluster.RESTConfig(), dyn, devFieldManager)
	require.NoError(t, err)
	require.NoError(t, setup(context.Background(), ap, func(string, ...any) {}, nil))

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
	metrics := up("http://" + metricsAddr + "/metrics")
	for _, want := range []string{"rgd_api_requests_total{", "go_goroutines", "process_cpu_seconds_total"} {
		assert.Contains(t, metrics, want, "the process's registry is served")
	}
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

// renderedDeployment returns the one Deployment of a rendering of the chart
// under deploy/.
func renderedDeployment(t *testing.T, path string) appsv1.Deployment {
	t.Helper()
	docs, err := manifest.ReadFile(path)
	require.NoError(t, err)
	var found []appsv1.Deployment
	for _, d := range docs {
		if d.Object.GetKind() != "Deployment" {
			continue
		}
		var dep appsv1.Deployment
		require.NoError(t, json.Unmarshal(d.JSON, &dep))
		found = append(found, dep)
	}
	require.Len(t, found, 1, "%s: Deployments", path)
	return found[0]
}

// TestDeployManifestArgs parses the arguments of the Deployment in
// deploy/rgd.yaml (the chart's default rendering) with the controller's own
// flags, so that a renamed flag cannot leave the manifests starting a
// process that exits on its first line.
func TestDeployManifestArgs(t *testing.T) {
	dep := renderedDeployment(t, "../../deploy/rgd.yaml")
	require.Len(t, dep.Spec.Template.Spec.Containers, 1)
	args := dep.Spec.Template.Spec.Containers[0].Args
	require.NotEmpty(t, args)
	require.Equal(t, "controller", args[0])

	cmd := newControllerCommand()
	require.NoError(t, cmd.ParseFlags(args[1:]), "deploy/rgd.yaml: %v", args)
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

// TestImpersonationManifestArgs parses the arguments of the Deployment in
// deploy/impersonation/rgd.yaml: they exist, and they require a
// ServiceAccount.
func TestImpersonationManifestArgs(t *testing.T) {
	dep := renderedDeployment(t, "../../deploy/impersonation/rgd.yaml")
	require.Len(t, dep.Spec.Template.Spec.Containers, 1)
	args := dep.Spec.Template.Spec.Containers[0].Args
	require.NotEmpty(t, args)
	require.Equal(t, "controller", args[0])
	cmd := newControllerCommand()
	require.NoError(t, cmd.ParseFlags(args[1:]), "deploy/impersonation/rgd.yaml: %v", args)
	required, err := cmd.Flags().GetBool("require-service-account")
	require.NoError(t, err)
	assert.True(t, required)
}
