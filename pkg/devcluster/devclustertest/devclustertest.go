package devclustertest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/rgd-dev/rgd/pkg/devcluster"
)

var shared *devcluster.Cluster

// Main starts one control plane with opts, runs the package's tests, stops
// the control plane and exits with the tests' code. Call it from TestMain:
//
//	func TestMain(m *testing.M) { devclustertest.Main(m, devcluster.Options{}) }
//
// When the control plane cannot start (for example, the binaries have not
// been built: run `make control-plane`), Main prints why and exits 1.
// With -short (`make unit`) no control plane is started: the tests run, and
// those that call RequireCluster or Namespace are skipped.
func Main(m *testing.M, opts devcluster.Options) {
	os.Exit(run(m, opts))
}

func run(m *testing.M, opts devcluster.Options) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	if opts.Log == nil && os.Getenv("RGD_DEVCLUSTER_VERBOSE") != "" {
		opts.Log = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	c, err := devcluster.Start(ctx, opts)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "devclustertest: starting the control plane:", err)
		return 1
	}
	shared = c
	code := m.Run()
	if err := c.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "devclustertest: stopping the control plane:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Cluster returns the control plane Main started (nil outside Main).
func Cluster() *devcluster.Cluster { return shared }

// RequireCluster skips the test in -short mode, where Main starts no
// control plane.
func RequireCluster(t testing.TB) {
	t.Helper()
	if shared == nil && testing.Short() {
		t.Skip("integration test: needs the local control plane, which -short does not start")
	}
}

// Config returns a copy of the admin client configuration of the shared
// control plane. It panics when called without Main, which is a bug in the
// test package.
func Config() *rest.Config {
	if shared == nil {
		panic("devclustertest: Config called without devclustertest.Main in TestMain")
	}
	return shared.RESTConfig()
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// Namespace creates a namespace with a unique name derived from the test's
// name and deletes it when the test ends. (Without kube-controller-manager a
// deleted namespace stays Terminating, which does not disturb other tests.)
func Namespace(t testing.TB) string {
	t.Helper()
	RequireCluster(t)
	cs, err := kubernetes.NewForConfig(Config())
	if err != nil {
		t.Fatalf("devclustertest: client: %v", err)
	}
	prefix := strings.Trim(notDNS.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(prefix) > 40 {
		prefix = strings.TrimRight(prefix[:40], "-")
	}
	if prefix == "" {
		prefix = "test"
	}
	ns, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("devclustertest: creating namespace: %v", err)
	}
	t.Cleanup(func() {
		err := cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
		if err != nil {
			t.Logf("devclustertest: deleting namespace %s: %v", ns.Name, err)
		}
	})
	return ns.Name
}

// Eventually polls cond until it holds or timeout passes, and then fails
// the test with what it waited for and cond's last observation. Use it for
// state the API server reaches asynchronously; the poll interval is short
// enough that a passing test does not wait for it.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, obs := cond()
		if ok {
			return
		}
		last = obs
		time.Sleep(25 * time.Millisecond) // polling with a deadline
	}
	t.Fatalf("timed out after %s waiting for %s; last seen: %s", timeout, what, last)
}
