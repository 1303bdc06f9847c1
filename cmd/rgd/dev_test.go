package main

import (
	"bufio"
	"context"
	"errors"
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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rgd-dev/rgd/pkg/devcluster"
	"github.com/rgd-dev/rgd/pkg/manifest"
)

func TestLoadExampleSortsDocuments(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
	}
	write("a-instance.yaml", `
apiVersion: shop.example.com/v1
kind: Shop
metadata: {name: my-shop}
`)
	write("b-rgd.yaml", `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: shop}
spec:
  schema: {apiVersion: v1, group: shop.example.com, kind: Shop}
---
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: web}
spec:
  schema: {apiVersion: v1alpha1, kind: Web}
`)
	write("c-crd.yaml", `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.example.com}
`)
	write("d-prereq.yml", `
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
---
apiVersion: kro.run/v1alpha1
kind: Web
metadata: {name: site}
`)
	write("README.md", "not yaml: ignored")
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o700))

	set, err := loadExample(dir)
	require.NoError(t, err)
	docNames := func(docs []manifest.Document) []string {
		var out []string
		for _, d := range docs {
			out = append(out, d.Object.GetKind()+"/"+d.Object.GetName())
		}
		return out
	}
	assert.Equal(t, []string{"CustomResourceDefinition/things.example.com"}, docNames(set.crds))
	assert.Equal(t, []string{"ConfigMap/settings"}, docNames(set.prereqs))
	assert.Equal(t, []string{"ResourceGraphDefinition/shop", "ResourceGraphDefinition/web"}, docNames(set.rgds))
	assert.Equal(t, []string{"Shop/my-shop", "Web/site"}, docNames(set.instances))
	assert.Equal(t, []string{"shops.shop.example.com", "webs.kro.run"}, set.kinds)
}

func TestLoadExampleReportsEveryBadDocument(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(`
apiVersion: v1
kind: ConfigMap
metadata: {}
---
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: nokind}
spec: {schema: {apiVersion: v1}}
`), 0o600))
	_, err := loadExample(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "expected a Kubernetes object with apiVersion, kind and metadata.name")
	assert.Contains(t, err.Error(), "spec.schema.kind: Required value")
}

func TestLoadExampleCartsStack(t *testing.T) {
	dir, err := findExample(defaultExample)
	require.NoError(t, err, "found from cmd/rgd by walking up")
	set, err := loadExample(dir)
	require.NoError(t, err)
	require.Len(t, set.crds, 1)
	assert.Equal(t, "tables.dynamodb.services.k8s.aws", set.crds[0].Object.GetName())
	require.Len(t, set.rgds, 1)
	require.Len(t, set.instances, 1)
	assert.Equal(t, "CartsStack", set.instances[0].Object.GetKind())
	assert.Empty(t, set.prereqs)
}

func TestFindExampleMissing(t *testing.T) {
	_, err := findExample("examples/does-not-exist")
	assert.ErrorContains(t, err, "no such folder")
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

func sampleProgress() []progressRGD {
	return []progressRGD{{
		name: "cartsstack.kro.run", state: "Active",
		instances: []progressInstance{{
			kind: "CartsStack", namespace: "default", name: "carts-kro", found: true,
			state: "IN_PROGRESS", readyMessage: "waiting for table",
			resources: []progressResource{
				{id: "ns", kind: "Namespace", name: "carts-kro", state: "created"},
				{id: "table", kind: "Table", name: "carts-kro/items", state: "created"},
				{id: "deployment", kind: "Deployment", state: "waiting"},
			},
		}},
	}}
}

func TestRenderProgress(t *testing.T) {
	var texts []string
	for _, l := range renderProgress(sampleProgress()) {
		texts = append(texts, l.text)
	}
	assert.Equal(t, []string{
		"ResourceGraphDefinition cartsstack.kro.run: Active",
		"  CartsStack default/carts-kro: IN_PROGRESS (waiting for table)",
		"    ns          created   Namespace/carts-kro",
		"    table       created   Table/carts-kro/items",
		"    deployment  waiting   Deployment/-",
	}, texts)

	missing := []progressRGD{{name: "web", state: "Inactive", message: "resource x: bad field",
		instances: []progressInstance{{kind: "Web", name: "site"}}}}
	texts = nil
	for _, l := range renderProgress(missing) {
		texts = append(texts, l.text)
	}
	assert.Equal(t, []string{"ResourceGraphDefinition web: Inactive: resource x: bad field", "  Web site: not found"}, texts)
}

func TestProgressPrinterPlainPrintsOnlyChanges(t *testing.T) {
	var buf strings.Builder
	p := newProgressPrinter(&buf, false)
	snap := sampleProgress()
	p.show(renderProgress(snap))
	assert.Equal(t, 5, strings.Count(buf.String(), "\n"))
	buf.Reset()
	p.show(renderProgress(snap))
	assert.Empty(t, buf.String(), "nothing changed")
	snap[0].instances[0].resources[2].state = "created"
	snap[0].instances[0].resources[2].name = "carts-kro/carts"
	p.show(renderProgress(snap))
	assert.Equal(t, "    deployment  created   Deployment/carts-kro/carts\n", buf.String())
	assert.NotContains(t, buf.String(), "\x1b", "no escape codes off a terminal")
}

func TestProgressPrinterTerminalRedrawsInPlace(t *testing.T) {
	var buf strings.Builder
	p := newProgressPrinter(&buf, true)
	p.show(renderProgress(sampleProgress()))
	first := buf.String()
	assert.NotContains(t, first, "\x1b[5A", "nothing to move over the first time")
	assert.Equal(t, 5, strings.Count(first, "\r\x1b[2K"))
	buf.Reset()
	p.show(renderProgress(sampleProgress()))
	assert.True(t, strings.HasPrefix(buf.String(), "\x1b[5A"), "moves up over the 5 lines drawn: %q", buf.String())
	assert.True(t, strings.HasSuffix(buf.String(), "\x1b[J"))
}

func TestSettled(t *testing.T) {
	snap := sampleProgress()
	assert.Nil(t, settled(snap))
	snap[0].instances[0].state = "ACTIVE"
	assert.Len(t, settled(snap), 1)
	snap[0].instances = append(snap[0].instances, progressInstance{kind: "CartsStack", name: "other", state: "ERROR"})
	assert.Len(t, settled(snap), 2)
}

func TestReadRGD(t *testing.T) {
	docs, err := manifest.ReadFile(filepath.Join("..", "..", "examples", "cartsstack", "rgd.yaml"))
	require.NoError(t, err)
	u := docs[0].Object.DeepCopy()
	st := readRGD(u)
	assert.Equal(t, "CartsStack", st.kind.Kind)
	assert.Equal(t, "kro.run", st.kind.Group)
	assert.Equal(t, []string{"ns", "table", "sa", "config", "deployment", "service"}, st.order, "spec order until the status has one")
	assert.Equal(t, rgdResourceRef{apiVersion: "dynamodb.services.k8s.aws/v1alpha1", kind: "Table", name: "items", namespace: "${schema.spec.namespace}"}, st.resources["table"])

	require.NoError(t, unstructured.SetNestedField(u.Object, map[string]any{
		"state":            "Inactive",
		"topologicalOrder": []any{"ns", "table"},
		"conditions": []any{
			map[string]any{"type": "GraphAccepted", "status": "False", "reason": "InvalidResourceGraph", "message": "resource table: bad"},
			map[string]any{"type": "Ready", "status": "False", "message": "not ready"},
		},
	}, "status"))
	st = readRGD(u)
	assert.Equal(t, []string{"ns", "table"}, st.order)
	assert.Equal(t, "resource table: bad", st.message)
	assert.True(t, st.refused)
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
