package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rgd-dev/rgd/internal/devexample"
	"github.com/rgd-dev/rgd/pkg/devcluster"
)

// poll calls check every 200ms until it succeeds or timeout (or ctx) ends.
func poll(ctx context.Context, timeout time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ticker := time.NewTicker(200 * time.Millisecond)
	defer ticker.Stop()
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %s: %w", timeout, err)
		case <-ticker.C:
		}
	}
}

// childPIDs lists the processes whose parent is pid.
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may contain spaces, so cut at the last ')'.
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// TestDevExampleNone builds rgd, runs `rgd dev --example none` as a
// subprocess, uses its kubeconfig, and stops it with SIGTERM.
func TestDevExampleNone(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts a local control plane, which -short does not")
	}
	_, err := os.Stat("/proc/self/stat")
	require.NoError(t, err, "the test finds rgd dev's child processes through /proc (Linux)")
	require.NoError(t, devcluster.CheckBinaries(devcluster.BinDir(""),
		devcluster.Etcd, devcluster.KubeAPIServer, devcluster.KubeControllerManager, devcluster.KubeScheduler, devcluster.Kwok))

	tmp := t.TempDir()
	bin := filepath.Join(tmp, "rgd")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	state := filepath.Join(tmp, "state")
	cmd := exec.Command(bin, "dev", "--example", "none", "--dir", state)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})

	// Up: the kubeconfig is printed once everything has started.
	var seen []string
	deadline := time.After(3 * time.Minute)
	kubeconfig := filepath.Join(state, "kubeconfig")
	for up := false; !up; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("rgd dev exited early: %v\nstdout:\n%s\nstderr:\n%s", <-exited, strings.Join(seen, "\n"), stderr.String())
			}
			seen = append(seen, line)
			up = strings.Contains(line, "export KUBECONFIG="+kubeconfig)
		case <-deadline:
			t.Fatalf("rgd dev did not come up in 3m\nstdout:\n%s\nstderr:\n%s", strings.Join(seen, "\n"), stderr.String())
		}
	}
	assert.Contains(t, strings.Join(seen, "\n"), "rgd engine started")
	require.FileExists(t, kubeconfig)
	assert.FileExists(t, filepath.Join(state, "logs", devEngineLog), "the engine logs to a file, not the terminal")

	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	ext, err := apiextensionsclient.NewForConfig(cfg)
	require.NoError(t, err)
	_, err = ext.ApiextensionsV1().CustomResourceDefinitions().Get(context.Background(), "resourcegraphdefinitions.kro.run", metav1.GetOptions{})
	require.NoError(t, err, "the RGD CRD is installed")
	nodes, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, nodes.Items, 1, "kwok's fake node")

	children := childPIDs(t, cmd.Process.Pid)
	require.GreaterOrEqual(t, len(children), 5, "etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	go func() {
		for range lines { // drain so that rgd never blocks writing
		}
	}()
	select {
	case err := <-exited:
		require.NoError(t, err, "exit status after SIGTERM\nstderr:\n%s", stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatal("rgd dev did not exit within 2m of SIGTERM")
	}
	for _, pid := range children {
		_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid)))
		assert.True(t, errors.Is(err, os.ErrNotExist), "child process %d is still there", pid)
	}
	assert.FileExists(t, kubeconfig, "--dir is kept")
}

// TestDevCartsStack runs `rgd dev` with the CartsStack example and waits for
// the instance to turn ACTIVE. It needs the engine (pkg/engine).
func TestDevCartsStack(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts a local control plane, which -short does not")
	}
	require.NoError(t, devcluster.CheckBinaries(devcluster.BinDir(""),
		devcluster.Etcd, devcluster.KubeAPIServer, devcluster.KubeControllerManager, devcluster.KubeScheduler, devcluster.Kwok))
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "rgd")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	state := filepath.Join(tmp, "state")
	cmd := exec.Command(bin, "dev", "--example", "examples/cartsstack", "--dir", state)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() }) // no-op once it has exited
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	engineLog := func() string {
		b, _ := os.ReadFile(filepath.Join(state, "logs", devEngineLog))
		return string(b)
	}

	var seen []string
	deadline := time.After(3 * time.Minute)
	for active := false; !active; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("rgd dev exited early: %v\nstdout:\n%s\nstderr:\n%s", <-exited, strings.Join(seen, "\n"), stderr.String())
			}
			seen = append(seen, line)
			active = strings.Contains(line, "CartsStack default/carts-kro is ACTIVE")
			for _, bad := range []string{"the rgd engine stopped", "is in ERROR", "skipping"} {
				if strings.Contains(line, bad) {
					t.Fatalf("%s\nstdout:\n%s\nstderr:\n%s\nengine log:\n%s", line, strings.Join(seen, "\n"), stderr.String(), engineLog())
				}
			}
		case <-deadline:
			t.Fatalf("the instance did not turn ACTIVE in 3m\nstdout:\n%s\nstderr:\n%s\nengine log:\n%s", strings.Join(seen, "\n"), stderr.String(), engineLog())
		}
	}
	all := strings.Join(seen, "\n")
	assert.Contains(t, all, "ResourceGraphDefinition cartsstack")
	for _, id := range []string{"ns", "table", "sa", "config", "deployment", "service"} {
		assert.Regexp(t, `(?m)^\s+`+id+`\s+created\s`, all, "resource %s shown as created", id)
	}

	// The commands to try name `rgd status` of the instance; it is ACTIVE
	// and Ready, every resource ready.
	for hint := false; !hint; {
		select {
		case line, ok := <-lines:
			require.True(t, ok, "rgd dev exited early\nstdout:\n%s", strings.Join(seen, "\n"))
			seen = append(seen, line)
			hint = strings.TrimSpace(line) == "go run ./cmd/rgd status cartsstack/carts-kro -n default"
		case <-time.After(time.Minute):
			t.Fatalf("no rgd status hint\nstdout:\n%s", strings.Join(seen, "\n"))
		}
	}
	status := exec.Command(bin, "status", "cartsstack/carts-kro", "-n", "default", "--kubeconfig", filepath.Join(state, "kubeconfig"))
	statusOut, err := status.CombinedOutput()
	require.NoError(t, err, "rgd status exits 0 for the ACTIVE instance:\n%s", statusOut)
	assert.Regexp(t, `^CartsStack default/carts-kro: ACTIVE, Ready=True since `, string(statusOut))
	for _, id := range []string{"ns", "table", "sa", "config", "deployment", "service"} {
		assert.Regexp(t, `(?m)^`+id+`\s+\S+\s+created\s+yes$`, string(statusOut), "resource %s ready", id)
	}

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	go func() {
		for range lines { // drain so that rgd never blocks writing
		}
	}()
	select {
	case err := <-exited:
		require.NoError(t, err, "exit status after SIGTERM\nstderr:\n%s", stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatal("rgd dev did not exit within 2m of SIGTERM")
	}
}

// TestDevWithoutEngine checks the seam of --engine=false: the flag is there
// (on by default), no engine is started, and the instructions name the
// controller command and the example's instance files.
func TestDevWithoutEngine(t *testing.T) {
	flag := newDevCommand().Flags().Lookup("engine")
	require.NotNil(t, flag)
	assert.Equal(t, "true", flag.DefValue)

	saved := startEngine
	t.Cleanup(func() { startEngine = saved })
	startEngine = func(context.Context, *rest.Config, io.Writer) error {
		t.Error("the engine was started with --engine=false")
		return nil
	}
	var out strings.Builder
	s := &devSession{out: &out}
	engineCtx, err := s.startEngine(context.Background(), false)
	require.NoError(t, err)
	assert.Nil(t, engineCtx, "no engine: instances are not applied")
	assert.Contains(t, out.String(), "--engine=false")

	example, err := devexample.Load(filepath.Join(repoRoot(t), "examples", "cartsstack"))
	require.NoError(t, err)
	out.Reset()
	require.NoError(t, s.runExample(context.Background(), nil, nil, nil, example))
	assert.Equal(t, "rgd dev: not applying 1 instance(s): they need the engine\n", out.String())

	out.Reset()
	printEngineCommands(&out, "/state/kubeconfig", "/bin/kubectl", example)
	assert.Contains(t, out.String(), "go run ./cmd/rgd controller --kubeconfig /state/kubeconfig\n")
	assert.Regexp(t, `/bin/kubectl --kubeconfig /state/kubeconfig apply --server-side -f \S*examples/cartsstack/instance\.yaml\n`, out.String())
}
