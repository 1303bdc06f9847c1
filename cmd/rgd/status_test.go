package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/rgd-dev/rgd/internal/applier"
	"github.com/rgd-dev/rgd/internal/progress"
	"github.com/rgd-dev/rgd/pkg/devcluster"
	"github.com/rgd-dev/rgd/pkg/engine"
	"github.com/rgd-dev/rgd/pkg/manifest"
)

// statusCmd runs `rgd status args...` in-process through the root command
// and returns its exit code (as main's run computes it), stdout and stderr.
func statusCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	root := newRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"status"}, args...))
	err := root.Execute()
	var ee *exitError
	switch {
	case err == nil:
		return 0, out.String(), errOut.String()
	case errors.As(err, &ee):
		return ee.code, out.String(), errOut.String() + ee.Error()
	}
	return 1, out.String(), errOut.String() + err.Error()
}

func TestStatusUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"turnstile"},                    // no name
		{"turnstile/"},                   // no name
		{"/t1"},                          // no type
		{"a/b/c"},                        // too many parts
		{"turnstile/t1", "-o", "wide"},   // unknown format
		{"turnstile", "t1", "extra"},     // too many arguments
		{"turnstile/t1", "--kubeconfig"}, // flag without value
		{"turnstile/t1", "--kubeconfig", filepath.Join(t.TempDir(), "missing")},
	} {
		code, _, stderr := statusCmd(t, args...)
		assert.Equal(t, statusUsage, code, "rgd status %s: %s", strings.Join(args, " "), stderr)
	}
}

func TestStatusArgs(t *testing.T) {
	typ, name, err := statusArgs([]string{"cartsstack/carts-kro"})
	require.NoError(t, err)
	assert.Equal(t, []string{"cartsstack", "carts-kro"}, []string{typ, name})
	typ, name, err = statusArgs([]string{"rgd", "cartsstack"})
	require.NoError(t, err)
	assert.Equal(t, []string{"rgd", "cartsstack"}, []string{typ, name})
}

// turnstileRGD is the status tests' RGD (see its file).
const turnstileRGD = "internal/progress/testdata/turnstile-rgd.yaml"

// startEngineCluster starts etcd and kube-apiserver, installs the RGD CRD
// and runs the engine in-process until the test ends. It returns the
// cluster and an applier of it.
func startEngineCluster(t *testing.T) (*devcluster.Cluster, *applier.Applier, dynamic.Interface) {
	t.Helper()
	cluster := startTestCluster(t)
	cfg := cluster.RESTConfig()
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	ap, err := applier.New(cfg, dyn, devFieldManager)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, setup(ctx, ap, func(string, ...any) {}, nil))
	eng, err := engine.New(cfg, engine.Options{Logger: logr.Discard()})
	require.NoError(t, err)
	engineCtx, stop := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- eng.Start(engineCtx) }()
	t.Cleanup(func() { // before the cluster stops (cleanups run last first)
		stop()
		assert.NoError(t, <-stopped)
	})
	require.NoError(t, poll(ctx, time.Minute, func() error {
		if !eng.Ready() {
			return errors.New("the engine is not ready")
		}
		return nil
	}))
	return cluster, ap, dyn
}

// TestStatusAgainstTheEngine runs `rgd status` against a real API server
// and the engine: an instance whose gate resource's readyWhen is false is
// shown waiting on it, exits 1, and exits 0 once the test opens the gate;
// `rgd status rgd/NAME` counts the instances by state.
func TestStatusAgainstTheEngine(t *testing.T) {
	cluster, ap, dyn := startEngineCluster(t)
	ctx := context.Background()
	docs, err := manifest.ReadFile(filepath.Join(repoRoot(t), turnstileRGD))
	require.NoError(t, err)
	require.NoError(t, ap.Apply(ctx, docs[0], time.Minute))
	reader := progress.NewReader(dyn, ap.Mapper())
	require.True(t, reader.WaitActive(ctx, []string{"turnstile"}, 2*time.Minute, 200*time.Millisecond, t.Logf), "the RGD turns Active")
	for name, gate := range map[string]string{"closed": "closed", "open": "open"} {
		obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "kro.run/v1alpha1", "kind": "Turnstile",
			"metadata": map[string]any{"name": name, "namespace": "default"}, "spec": map[string]any{"gate": gate}}}
		require.NoError(t, ap.Apply(ctx, manifest.Document{Source: name, Object: obj}, time.Minute))
	}
	kc := []string{"--kubeconfig", cluster.KubeconfigPath()}

	// The closed instance waits on its gate's readyWhen; after waits on gate.
	var out string
	waitStatus(t, "the closed instance waiting on its gate", func() (bool, string) {
		code, stdout, stderr := statusCmd(t, append([]string{"turnstile/closed", "-n", "default"}, kc...)...)
		out = stdout
		ok := code == statusNotReady && strings.Contains(stdout, ": IN_PROGRESS, Ready=False") &&
			regexp.MustCompile(`(?m)^gate\s+ConfigMap/default/closed-gate\s+created\s+no\s+readyWhen \$\{gate\.data\.state == "open"\} is false$`).MatchString(stdout)
		return ok, stdout + stderr
	})
	assert.Regexp(t, `^Turnstile default/closed: IN_PROGRESS, Ready=False since \d+s\nResourceGraphDefinition: turnstile\n`, out)
	assert.Regexp(t, `(?m)^first\s+ConfigMap/default/closed-first\s+created\s+yes$`, out)
	assert.Regexp(t, `(?m)^after\s+ConfigMap/-\s+waiting\s+no\s+waiting on gate$`, out)
	assert.Regexp(t, `(?m)^extra\s+ConfigMap/-\s+excluded\s+-\s+excluded: includeWhen \$\{schema\.spec\.extra\} is false$`, out)
	assert.Regexp(t, `(?m)^  Ready\s+False\s+NotReady\s+since \d+s\s+awaiting resource readiness`, out)

	// The open one is ACTIVE and Ready: exit 0, and its JSON says so.
	waitStatus(t, "the open instance ACTIVE", func() (bool, string) {
		code, stdout, stderr := statusCmd(t, append([]string{"turnstiles", "open", "-o", "json"}, kc...)...)
		out = stdout
		return code == statusReady, stdout + stderr
	})
	var doc progress.Instance
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	assert.Equal(t, "ACTIVE", string(doc.State))
	assert.True(t, doc.Judged)
	for _, r := range doc.Resources {
		assert.Equal(t, r.ID != "extra", r.Ready, "resource %s", r.ID)
	}

	// The RGD: Ready, one instance ACTIVE, one IN_PROGRESS.
	code, stdout, stderr := statusCmd(t, append([]string{"rgd/turnstile", "-o", "yaml"}, kc...)...)
	require.Equal(t, statusReady, code, stdout+stderr)
	assert.Contains(t, stdout, "instancesByState:\n- count: 1\n  state: ACTIVE\n- count: 1\n  state: IN_PROGRESS\n")
	code, stdout, _ = statusCmd(t, append([]string{"rgd", "turnstile"}, kc...)...)
	assert.Equal(t, statusReady, code)
	assert.Regexp(t, `(?m)^Instances: 2\n  ACTIVE\s+1\n  IN_PROGRESS\s+1$`, stdout)

	// Not there: exit 2.
	code, _, stderr = statusCmd(t, append([]string{"turnstile/nope"}, kc...)...)
	assert.Equal(t, statusUsage, code)
	assert.Contains(t, stderr, "Turnstile default/nope not found")
	code, _, stderr = statusCmd(t, append([]string{"gizmos/x"}, kc...)...)
	assert.Equal(t, statusUsage, code)
	assert.Contains(t, stderr, `type "gizmos" not found`)
	code, _, _ = statusCmd(t, append([]string{"rgd/nope"}, kc...)...)
	assert.Equal(t, statusUsage, code)

	// Opening the gate: ACTIVE, exit 0. Read as a user runs it: the rgd
	// process, the cluster from $KUBECONFIG.
	gvr := schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "turnstiles"}
	_, err = dyn.Resource(gvr).Namespace("default").Patch(ctx, "closed", types.MergePatchType, []byte(`{"spec":{"gate":"open"}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	t.Setenv("KUBECONFIG", cluster.KubeconfigPath())
	var res result
	waitStatus(t, "the opened instance ACTIVE", func() (bool, string) {
		res = rgd(t, "status", "turnstile/closed")
		return res.code == statusReady, res.String()
	})
	assert.Regexp(t, `^Turnstile default/closed: ACTIVE, Ready=True since \d+s\n`, res.stdout)
	assert.Regexp(t, `(?m)^after\s+ConfigMap/default/closed-after\s+created\s+yes$`, res.stdout)
	assert.Empty(t, res.stderr)

	statusWatchUntilInterrupted(t)
}

// statusWatchUntilInterrupted runs `rgd status --watch` on the ACTIVE
// instance closed (cluster from $KUBECONFIG), off a terminal: it prints one
// block, and exits 0 on SIGINT.
func statusWatchUntilInterrupted(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self, "status", "--watch", "turnstile/closed")
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() }) // no-op once it has exited
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen []string
	deadline := time.After(time.Minute)
	for shown := false; !shown; {
		select {
		case line, ok := <-lines:
			require.True(t, ok, "rgd status --watch exited early:\n%s\nstderr:\n%s", strings.Join(seen, "\n"), stderr.String())
			seen = append(seen, line)
			shown = strings.HasPrefix(line, "  Ready ")
		case <-deadline:
			t.Fatalf("rgd status --watch showed no block in 1m:\n%s\nstderr:\n%s", strings.Join(seen, "\n"), stderr.String())
		}
	}
	assert.Equal(t, "Turnstile default/closed: ACTIVE", strings.SplitN(seen[0], ",", 2)[0])
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	for line := range lines {
		seen = append(seen, line)
	}
	require.NoError(t, cmd.Wait(), "exit 0 for an ACTIVE instance, on SIGINT\nstderr:\n%s", stderr.String())
	assert.NotContains(t, strings.Join(seen, "\n"), "\x1b", "no escape codes off a terminal")
	assert.Equal(t, 1, strings.Count(strings.Join(seen, "\n"), "Turnstile default/closed"), "nothing changed: one block")
}

// waitStatus polls check for up to 2 minutes, failing with its last output.
func waitStatus(t *testing.T, what string, check func() (bool, string)) {
	t.Helper()
	var last string
	err := poll(context.Background(), 2*time.Minute, func() error {
		ok, out := check()
		last = out
		if !ok {
			return errors.New("not yet")
		}
		return nil
	})
	require.NoError(t, err, "waiting for %s; last output:\n%s", what, last)
}
