package devcluster_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/rgd-dev/rgd/pkg/devcluster"
	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
)

// One control plane with every part shared by the tests of this package.
func TestMain(m *testing.M) {
	devclustertest.Main(m, devcluster.Options{ControllerManager: true, Scheduler: true, Kwok: true})
}

func clientset(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return cs
}

// eventually polls cond every 100ms until it returns nil or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %s: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond) // poll interval, bounded by the deadline above
	}
}

func createAndReadConfigMap(t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	ctx := context.Background()
	_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Data:       map[string]string{"hello": "world"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	got, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "world", got.Data["hello"])
}

func TestKubeconfigWorks(t *testing.T) {
	ns := devclustertest.Namespace(t)
	cfg, err := clientcmd.BuildConfigFromFlags("", devclustertest.Cluster().KubeconfigPath())
	require.NoError(t, err)
	createAndReadConfigMap(t, clientset(t, cfg), ns, "from-kubeconfig")
}

func TestRESTConfigIsACopy(t *testing.T) {
	devclustertest.RequireCluster(t)
	c := devclustertest.Cluster()
	cfg := c.RESTConfig()
	cfg.Host = "https://changed.invalid"
	cfg.BearerToken = "changed"
	again := c.RESTConfig()
	assert.NotEqual(t, cfg.Host, again.Host)
	assert.NotEqual(t, cfg.BearerToken, again.BearerToken)
	createAndReadConfigMap(t, clientset(t, again), devclustertest.Namespace(t), "from-rest-config")
}

func TestDeploymentBecomesAvailableWithKwok(t *testing.T) {
	ns := devclustertest.Namespace(t)
	cs := clientset(t, devclustertest.Config())
	labels := map[string]string{"app": "web"}
	_, err := cs.AppsV1().Deployments(ns).Create(context.Background(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "example.invalid/web:1"}}},
			},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	eventually(t, 90*time.Second, "deployment web available", func() error {
		d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.AvailableReplicas != 2 {
			return errors.New("available replicas: " + d.Status.String())
		}
		return nil
	})
	pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, pods.Items, 2)
	for _, p := range pods.Items {
		assert.Equal(t, devcluster.FakeNodeName, p.Spec.NodeName)
		assert.Equal(t, corev1.PodRunning, p.Status.Phase)
		assert.NotEmpty(t, p.Status.PodIP)
	}
}

func assertGone(t *testing.T, pids []int) {
	t.Helper()
	for _, pid := range pids {
		err := syscall.Kill(pid, 0)
		assert.ErrorIs(t, err, syscall.ESRCH, "process %d still exists", pid)
	}
}

func TestSecondClusterRunsBesideAndStopLeavesNothing(t *testing.T) {
	devclustertest.RequireCluster(t)
	ctx := context.Background()
	c, err := devcluster.Start(ctx, devcluster.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop() })

	pids := c.PIDs()
	require.Len(t, pids, 2, "etcd and kube-apiserver")
	assert.NotEqual(t, devclustertest.Config().Host, c.RESTConfig().Host)

	// The two clusters are separate: an object in one is not in the other.
	cs := clientset(t, c.RESTConfig())
	createAndReadConfigMap(t, cs, "default", "only-in-second")
	_, err = clientset(t, devclustertest.Config()).CoreV1().ConfigMaps("default").
		Get(ctx, "only-in-second", metav1.GetOptions{})
	assert.True(t, apierrors.IsNotFound(err), "want NotFound from the shared cluster, got %v", err)

	dir := c.Dir()
	require.NoError(t, c.Stop())
	require.NoError(t, c.Stop(), "a second Stop is fine")
	assertGone(t, pids)
	_, err = os.Stat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist, "temporary dir removed")
}

func TestGivenDirIsKeptAndReused(t *testing.T) {
	devclustertest.RequireCluster(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	c, err := devcluster.Start(ctx, devcluster.Options{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop() })
	createAndReadConfigMap(t, clientset(t, c.RESTConfig()), "default", "kept")
	pids := c.PIDs()
	require.NoError(t, c.Stop())
	assertGone(t, pids)
	assert.FileExists(t, filepath.Join(dir, "kubeconfig"), "a given Dir is not removed")

	c2, err := devcluster.Start(ctx, devcluster.Options{Dir: dir, Keep: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c2.Stop() })
	cfg, err := clientcmd.BuildConfigFromFlags("", c2.KubeconfigPath())
	require.NoError(t, err)
	_, err = clientset(t, cfg).CoreV1().ConfigMaps("default").Get(ctx, "kept", metav1.GetOptions{})
	require.NoError(t, err, "Keep reuses etcd's data")
	require.NoError(t, c2.Stop())
}

func TestMissingBinariesSayHowToBuildThem(t *testing.T) {
	_, err := devcluster.Start(context.Background(), devcluster.Options{BinDir: t.TempDir(), Kwok: true})
	require.Error(t, err)
	assert.True(t, devcluster.IsMissingBinaries(err))
	assert.Contains(t, err.Error(), "make control-plane")
	assert.Contains(t, err.Error(), "kwok")
	assert.Contains(t, err.Error(), "kube-apiserver")
}
