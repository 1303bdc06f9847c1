package crashtest_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apiextensionsclientset "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/rgd-dev/rgd/crds"
	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/devcluster"
	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
)

// One control plane for the package, with the controller manager (garbage
// collection, namespace deletion) and kwok. The engine is never run in this
// process: each test starts `rgd controller` as a child process.
func TestMain(m *testing.M) {
	devclustertest.Main(m, devcluster.Options{ControllerManager: true, Kwok: true})
}

// setup installs the RGD CRD and returns a dynamic client for the shared
// control plane.
func setup(t *testing.T) dynamic.Interface {
	t.Helper()
	devclustertest.RequireCluster(t)
	cfg := devclustertest.Config()
	ext, err := apiextensionsclientset.NewForConfig(cfg)
	require.NoError(t, err)
	crd, err := crds.ResourceGraphDefinitions()
	require.NoError(t, err)
	_, err = ext.ApiextensionsV1().CustomResourceDefinitions().Create(context.Background(), crd, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	eventually(t, 30*time.Second, "the RGD CRD served", func() (bool, string) {
		_, err := dyn.Resource(v1alpha1.ResourceGraphDefinitionResource).List(context.Background(), metav1.ListOptions{Limit: 1})
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	return dyn
}

// buildRGD builds the rgd binary into a temporary directory of the test.
func buildRGD(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := filepath.Join(t.TempDir(), "rgd")
	cmd := exec.Command(goBin, "build", "-o", out, "github.com/rgd-dev/rgd/cmd/rgd")
	output, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/rgd:\n%s", output)
	return out
}

// engineProcess is one `rgd controller` child process.
type engineProcess struct {
	t       *testing.T
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	probe   string // host:port of /healthz and /readyz
	metrics string // host:port of /metrics, "" when disabled
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

// startEngineProcess runs `rgd controller` against the shared control
// plane with the extra flags and waits until /readyz answers 200. Its
// output goes to logPath (appended, so restarts share one log). withMetrics
// serves /metrics on a free port. The process is SIGKILLed when the test
// ends if it still runs.
func startEngineProcess(t *testing.T, bin, logPath string, withMetrics bool, extra ...string) *engineProcess {
	t.Helper()
	p := &engineProcess{t: t, done: make(chan struct{}), probe: freeAddr(t)}
	metricsFlag := "0"
	if withMetrics {
		p.metrics = freeAddr(t)
		metricsFlag = p.metrics
	}
	args := append([]string{"controller",
		"--kubeconfig", devclustertest.Cluster().KubeconfigPath(),
		"--leader-elect=false",
		"--metrics-bind-address", metricsFlag,
		"--health-probe-bind-address", p.probe,
	}, extra...)
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	fmt.Fprintf(logFile, "==== %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	require.NoError(t, p.cmd.Start())
	go func() {
		p.waitErr = p.cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })

	client := &http.Client{Timeout: 2 * time.Second}
	eventually(t, 60*time.Second, "rgd controller ready", func() (bool, string) {
		select {
		case <-p.done:
			t.Fatalf("rgd controller exited before it was ready: %v\n%s", p.waitErr, tail(logPath, 40))
		default:
		}
		resp, err := client.Get("http://" + p.probe + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *engineProcess) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// tail returns the last n lines of a file, for failure messages.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer func() { _ = f.Close() }()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// logOnFailure prints the end of the engine's log when the test failed.
func logOnFailure(t *testing.T, logPath string) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rgd controller log (last 80 lines of %s):\n%s", logPath, tail(logPath, 80))
		}
	})
}

// eventually is devclustertest.Eventually.
var eventually = devclustertest.Eventually

// applyYAML creates or replaces an object given as YAML with server-side
// apply.
func applyYAML(t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, doc string) {
	t.Helper()
	obj := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(doc), &obj.Object))
	_, err := dyn.Resource(gvr).Namespace(obj.GetNamespace()).Apply(context.Background(), obj.GetName(), obj,
		metav1.ApplyOptions{FieldManager: "test", Force: true})
	require.NoError(t, err)
}

// waitRGDActive waits for an RGD to become Active.
func waitRGDActive(t *testing.T, dyn dynamic.Interface, name string) {
	t.Helper()
	eventually(t, 60*time.Second, "RGD "+name+" Active", func() (bool, string) {
		obj, err := dyn.Resource(v1alpha1.ResourceGraphDefinitionResource).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		state, _, _ := unstructured.NestedString(obj.Object, "status", "state")
		conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
		return state == "Active", fmt.Sprintf("state %q conditions %v", state, conds)
	})
}
