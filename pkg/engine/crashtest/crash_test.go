package crashtest_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
)

// TestCrashSafety SIGKILLs the engine four times: while instances are being
// created, soon after the restart, and twice while half of them are being
// deleted; and
// checks that everything converges: no child lost, duplicated or left
// behind, no instance stuck.
func TestCrashSafety(t *testing.T) {
	dyn := setup(t)
	bin := buildRGD(t)
	logPath := filepath.Join(t.TempDir(), "rgd-controller.log")
	logOnFailure(t, logPath)
	// A low QPS spreads the engine's writes over several seconds, so that
	// the kills land in the middle of the work.
	slow := []string{"--qps", "10", "--burst", "10", "--workers", "4"}

	eng := startEngineProcess(t, bin, logPath, false, slow...)
	applyYAML(t, dyn, v1alpha1.ResourceGraphDefinitionResource, chainRGD("crashchain", "CrashChain"))
	t.Cleanup(func() {
		_ = dyn.Resource(v1alpha1.ResourceGraphDefinitionResource).Delete(context.Background(), "crashchain", metav1.DeleteOptions{})
	})
	waitRGDActive(t, dyn, "crashchain")
	gvr := instanceResource("crashchains")

	ns := devclustertest.Namespace(t)
	all := instanceNames("crash", 20)
	createInstances(t, dyn, gvr, "CrashChain", ns, all)

	// Kill 1: a few children exist, most do not.
	eventually(t, 60*time.Second, "a few children created", func() (bool, string) {
		children, err := ownedChildren(dyn, ns)
		if err != nil {
			return false, err.Error()
		}
		n := countChildren(children, all)
		return n >= 5, "children: " + strconv.Itoa(n)
	})
	eng.kill()
	children, err := ownedChildren(dyn, ns)
	require.NoError(t, err)
	t.Logf("kill 1 (creating): %d of %d children existed", countChildren(children, all), 3*len(all))

	// Kill 2: soon after the restart, while the engine catches up.
	before := countChildren(children, all)
	eng = startEngineProcess(t, bin, logPath, false, slow...)
	eventually(t, 60*time.Second, "more children created after the restart", func() (bool, string) {
		children, err := ownedChildren(dyn, ns)
		if err != nil {
			return false, err.Error()
		}
		n := countChildren(children, all)
		return n >= before+3 || n == 3*len(all), "children: " + strconv.Itoa(n)
	})
	eng.kill()
	children, err = ownedChildren(dyn, ns)
	require.NoError(t, err)
	t.Logf("kill 2 (after restart): %d of %d children existed", countChildren(children, all), 3*len(all))

	// Restart: all twenty converge.
	eng = startEngineProcess(t, bin, logPath, false, slow...)
	waitConverged(t, dyn, gvr, ns, all, 120*time.Second)

	// Kill 3: half of the instances are being deleted, some children are gone.
	live, gone := all[:10], all[10:]
	for _, name := range gone {
		require.NoError(t, dyn.Resource(gvr).Namespace(ns).Delete(context.Background(), name, metav1.DeleteOptions{}))
	}
	eventually(t, 60*time.Second, "some children of deleted instances gone", func() (bool, string) {
		children, err := ownedChildren(dyn, ns)
		if err != nil {
			return false, err.Error()
		}
		n := countChildren(children, gone)
		return n <= 3*len(gone)-3, "children of deleted instances left: " + strconv.Itoa(n)
	})
	eng.kill()
	children, err = ownedChildren(dyn, ns)
	require.NoError(t, err)
	t.Logf("kill 3 (deleting): %d of %d children of deleted instances were left", countChildren(children, gone), 3*len(gone))

	// Kill 4: after the restart, once the deletion has moved on again.
	left := countChildren(children, gone)
	eng = startEngineProcess(t, bin, logPath, false, slow...)
	eventually(t, 60*time.Second, "more children of deleted instances gone", func() (bool, string) {
		children, err := ownedChildren(dyn, ns)
		if err != nil {
			return false, err.Error()
		}
		n := countChildren(children, gone)
		return n <= left-3 || n == 0, "children of deleted instances left: " + strconv.Itoa(n)
	})
	eng.kill()
	children, err = ownedChildren(dyn, ns)
	require.NoError(t, err)
	t.Logf("kill 4 (deleting, after restart): %d of %d children of deleted instances were left", countChildren(children, gone), 3*len(gone))

	// Restart: the deleted instances and their children are gone, the
	// others untouched.
	startEngineProcess(t, bin, logPath, false, slow...)
	waitConverged(t, dyn, gvr, ns, live, 120*time.Second)

	// Leave nothing for the next test's engine: delete the rest while this
	// engine runs.
	for _, name := range live {
		require.NoError(t, dyn.Resource(gvr).Namespace(ns).Delete(context.Background(), name, metav1.DeleteOptions{}))
	}
	waitConverged(t, dyn, gvr, ns, nil, 120*time.Second)
	deleteRGD(t, dyn, "crashchain")
}
