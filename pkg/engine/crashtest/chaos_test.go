package crashtest_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/crdgen"
	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
	"github.com/rgd-dev/rgd/pkg/devcluster/faultproxy"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

const (
	// convergeTimeout is how long a phase may take to converge after its
	// last kill.
	convergeTimeout = 180 * time.Second
	// killTriggerTimeout is how long a kill waits for its progress target;
	// past it the engine is killed anyway (a stuck engine is killed too).
	killTriggerTimeout = 45 * time.Second
	// rgdActiveTimeout is how long the seed's RGD may take to become
	// Active through the proxy.
	rgdActiveTimeout = 120 * time.Second
)

// The phases of a seed's scenario, in order.
var chaosPhases = []string{"create", "update", "delete"}

// chaosConfig are the parameters of a chaos run, from the environment.
type chaosConfig struct {
	seeds     []int64
	instances int
	kills     int
	// logDir, when set, keeps each seed's engine and proxy logs in
	// logDir/seed-N instead of a temporary directory.
	logDir string
}

// chaosConfigFromEnv reads RGD_CHAOS_SEEDS (comma-separated, default "1"),
// RGD_CHAOS_INSTANCES (default 12), RGD_CHAOS_KILLS (kills per seed,
// default 4) and RGD_CHAOS_LOG_DIR (where to keep the logs; default: a
// temporary directory). RGD_CHAOS_BIN, read by TestChaos, runs an rgd
// binary built elsewhere instead of building one from the tree.
func chaosConfigFromEnv(t *testing.T) chaosConfig {
	t.Helper()
	cfg := chaosConfig{seeds: []int64{1}, instances: 12, kills: 4}
	if v := os.Getenv("RGD_CHAOS_SEEDS"); v != "" {
		cfg.seeds = nil
		for _, f := range strings.Split(v, ",") {
			seed, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			require.NoError(t, err, "RGD_CHAOS_SEEDS=%q: comma-separated seeds", v)
			require.GreaterOrEqual(t, seed, int64(0), "RGD_CHAOS_SEEDS: seeds are not negative")
			cfg.seeds = append(cfg.seeds, seed)
		}
	}
	for name, dst := range map[string]*int{"RGD_CHAOS_INSTANCES": &cfg.instances, "RGD_CHAOS_KILLS": &cfg.kills} {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			require.NoError(t, err, "%s=%q", name, v)
			require.GreaterOrEqual(t, n, 0, name)
			*dst = n
		}
	}
	require.Positive(t, cfg.instances, "RGD_CHAOS_INSTANCES")
	cfg.logDir = os.Getenv("RGD_CHAOS_LOG_DIR")
	return cfg
}

// splitKills shares the kills out to the phases, roughly 4:3:3.
func splitKills(total int) map[string]int {
	create := (4*total + 5) / 10
	update := min((3*total+5)/10, total-create)
	return map[string]int{"create": create, "update": update, "delete": total - create - update}
}

// killPoint is when to kill the engine during a phase: once the phase's
// progress reaches at (a share of its work) and at least after has passed
// since the phase's previous step (its start or the last restart).
type killPoint struct {
	at    float64
	after time.Duration
}

// String is "at%+after", e.g. "43%+1.2s".
func (k killPoint) String() string {
	return fmt.Sprintf("%.0f%%+%s", 100*k.at, k.after.Round(100*time.Millisecond))
}

// drawKillPlan draws the kill points of every phase from the seed.
func drawKillPlan(seed int64, kills map[string]int) map[string][]killPoint {
	rnd := rand.New(rand.NewSource(seed))
	plan := map[string][]killPoint{}
	for _, phase := range chaosPhases {
		points := make([]killPoint, kills[phase])
		for i := range points {
			points[i] = killPoint{at: 0.05 + 0.85*rnd.Float64(), after: time.Duration(rnd.Int63n(int64(time.Second)))}
		}
		sort.Slice(points, func(i, j int) bool { return points[i].at < points[j].at })
		plan[phase] = points
	}
	return plan
}

// TestChaos runs, per seed, a scenario with the engine talking to the API
// server only through a fault-injecting proxy (500s, 429s, lost answers of
// writes, cut watches, all drawn from the seed) and SIGKILLed at
// seed-drawn points while instances are created, updated and deleted.
// After each phase everything must converge: every instance ACTIVE and
// Ready for its generation with exactly its children, an instance whose
// child's name a user's object has refused without touching that object,
// nothing left behind after deletion, and the engine never exiting on its
// own. `make chaos` runs the long version; see chaosConfigFromEnv.
func TestChaos(t *testing.T) {
	cfg := chaosConfigFromEnv(t)
	dyn := setup(t)
	bin := os.Getenv("RGD_CHAOS_BIN") // an rgd binary built elsewhere, e.g. from an older commit
	if bin == "" {
		bin = buildRGD(t)
	}
	t.Logf("chaos: seeds %v, %d instances and %d kills (%v) per seed", cfg.seeds, cfg.instances, cfg.kills, splitKills(cfg.kills))
	for _, seed := range cfg.seeds {
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
			s := startChaosSeed(t, dyn, bin, cfg, seed)
			s.runPhase("create", s.createInstances, s.createProgress, func() []string { return s.w.settledProblems("v1", 1) })
			s.runPhase("update", s.updateInstances, s.updateProgress, func() []string { return s.w.settledProblems("v2", 2) })
			s.runPhase("delete", s.deleteInstances, s.deleteProgress, s.w.goneProblems)
			s.setPhase("done")
		})
	}
}

// chaosSeed is one seed's scenario.
type chaosSeed struct {
	t       *testing.T
	seed    int64
	cfg     chaosConfig
	rgd     string
	kind    string
	w       *chaosWorld
	proxy   *faultproxy.Proxy
	eng     *chaosEngine
	plan    map[string][]killPoint
	logPath string

	mu        sync.Mutex
	phase     string
	durations map[string]time.Duration
}

// startChaosSeed starts the proxy and the engine behind it in a namespace
// of the seed's own, applies the seed's RGD and waits until it is Active,
// and creates the user's ConfigMap the colliding instance will want.
func startChaosSeed(t *testing.T, dyn dynamic.Interface, bin string, cfg chaosConfig, seed int64) *chaosSeed {
	kind := fmt.Sprintf("ChaosStack%d", seed)
	s := &chaosSeed{t: t, seed: seed, cfg: cfg, rgd: fmt.Sprintf("chaos-stack-%d", seed), kind: kind, phase: "start",
		plan: drawKillPlan(seed, splitKills(cfg.kills)), durations: map[string]time.Duration{}}
	s.w = &chaosWorld{dyn: dyn, gvr: instanceResource(crdgen.Plural(kind)), ns: devclustertest.Namespace(t),
		names: instanceNames("inst", cfg.instances), collide: "collide"}
	dir := t.TempDir()
	if cfg.logDir != "" {
		dir = filepath.Join(cfg.logDir, fmt.Sprintf("seed-%d", seed))
		require.NoError(t, os.MkdirAll(dir, 0o755))
	}
	s.logPath = filepath.Join(dir, "rgd-controller.log")
	proxyLog := filepath.Join(dir, "faultproxy.log")
	var err error
	s.proxy, err = faultproxy.Start(faultproxy.Options{
		Upstream: devclustertest.Config(), Seed: seed,
		ErrorRate: 0.05, ThrottleRate: 0.03, LostAnswerRate: 0.02,
		WatchCutMin: 5 * time.Second, WatchCutMax: 30 * time.Second,
		Logf: fileLogger(t, proxyLog),
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.proxy.Close()) })
	kubeconfig := filepath.Join(dir, "faultproxy.kubeconfig")
	require.NoError(t, s.proxy.WriteKubeconfig(kubeconfig))
	logOnFailure(t, s.logPath)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("fault proxy log (last 20 lines of %s):\n%s", proxyLog, tail(proxyLog, 20))
		}
	})

	// A modest QPS spreads the engine's writes over seconds (about 30 for
	// 60 instances), so that the kills land in the middle of the work.
	s.eng = startChaosEngine(t, bin, s.logPath, kubeconfig, "--qps", "25", "--burst", "25", "--workers", "8")
	t.Cleanup(s.cleanup) // while the engine still runs
	t.Cleanup(s.finish)
	t.Logf("seed %d: namespace %s, kind %s, kill plan %v, logs in %s; engine ready through the proxy after %s (%s)",
		seed, s.w.ns, kind, s.plan, dir, time.Since(s.eng.began).Round(100*time.Millisecond), s.proxy.Counts())

	applyYAML(t, dyn, v1alpha1.ResourceGraphDefinitionResource, chaosRGD(s.rgd, kind))
	poll(t, rgdActiveTimeout, 250*time.Millisecond, "RGD "+s.rgd+" Active", func() (bool, string) {
		obj, err := dyn.Resource(v1alpha1.ResourceGraphDefinitionResource).Get(context.Background(), s.rgd, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		state, _, _ := unstructured.NestedString(obj.Object, "status", "state")
		return state == "Active", fmt.Sprintf("state %q; %s", state, conditionSummary(obj))
	})
	s.w.userCM, err = dyn.Resource(chaosKinds[0].gvr).Namespace(s.w.ns).Create(context.Background(), &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": s.w.collide + "-config", "labels": map[string]any{"app": "users-own"}},
		"data":     map[string]any{"owner": "a user", "message": "not rgd's"},
	}}, metav1.CreateOptions{})
	require.NoError(t, err, "creating the user's ConfigMap")
	return s
}

// fileLogger returns a Logf that appends timestamped lines to path; the
// file is closed when the test ends (after the proxy, which is closed
// before: cleanups run last first).
func fileLogger(t *testing.T, path string) func(string, ...any) {
	f, err := os.Create(path)
	require.NoError(t, err)
	var mu sync.Mutex
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		_ = f.Close()
	})
	return func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(f, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
}

// setPhase records the phase running, for the summary.
func (s *chaosSeed) setPhase(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phase = p
}

// runPhase starts a phase with act, kills the engine at the phase's kill
// points (restarting it each time), and waits until converged reports no
// problem.
func (s *chaosSeed) runPhase(name string, act func(), progress func() (float64, error), converged func() []string) {
	s.t.Helper()
	s.setPhase(name)
	start := time.Now()
	act()
	points := s.plan[name]
	for i, kp := range points {
		s.killAt(name, i, len(points), kp, progress)
	}
	poll(s.t, convergeTimeout, 500*time.Millisecond, name+" converged (after "+strconv.Itoa(len(points))+" kills)", func() (bool, string) {
		problems := converged()
		return len(problems) == 0, formatProblems(problems)
	})
	d := time.Since(start)
	s.mu.Lock()
	s.durations[name] = d
	s.mu.Unlock()
	s.t.Logf("%s converged in %s; faults so far: %s", name, d.Round(100*time.Millisecond), s.proxy.Counts())
}

// killAt waits until the phase's progress reaches the kill point (or
// killTriggerTimeout passes), then kills the engine and restarts it.
func (s *chaosSeed) killAt(phase string, i, n int, kp killPoint, progress func() (float64, error)) {
	s.t.Helper()
	since := time.Now()
	var last float64
	reached, obs := pollUntil(killTriggerTimeout, 100*time.Millisecond, func() (bool, string) {
		p, err := progress()
		if err != nil {
			return false, err.Error()
		}
		last = p
		return p >= kp.at && time.Since(since) >= kp.after, ""
	})
	how := fmt.Sprintf("at %.0f%% of the work (target %.0f%%, %s after the previous step)",
		100*last, 100*kp.at, time.Since(since).Round(10*time.Millisecond))
	if !reached {
		how = fmt.Sprintf("after %s without reaching its target %.0f%% (stuck at %.0f%%; %s)", killTriggerTimeout, 100*kp.at, 100*last, obs)
	}
	restart := time.Now()
	s.eng.killAndRestart()
	s.t.Logf("kill %d/%d during %s %s; restarted, ready again in %s", i+1, n, phase, how, time.Since(restart).Round(100*time.Millisecond))
}

// all is every instance of the seed, the colliding one included.
func (s *chaosSeed) all() []string { return append([]string{s.w.collide}, s.w.names...) }

// createInstances creates every instance with its v1 message.
func (s *chaosSeed) createInstances() {
	for _, name := range s.all() {
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": s.w.gvr.GroupVersion().String(),
			"kind":       s.kind,
			"metadata":   map[string]any{"name": name, "namespace": s.w.ns},
			"spec":       map[string]any{"message": chaosMessage("v1", name)},
		}}
		_, err := s.w.dyn.Resource(s.w.gvr).Namespace(s.w.ns).Create(context.Background(), obj, metav1.CreateOptions{})
		require.NoError(s.t, err, "creating instance %s", name)
	}
}

// updateInstances sets every instance's message to its v2.
func (s *chaosSeed) updateInstances() {
	for _, name := range s.all() {
		patch := fmt.Sprintf(`{"spec":{"message":%q}}`, chaosMessage("v2", name))
		_, err := s.w.dyn.Resource(s.w.gvr).Namespace(s.w.ns).Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
		require.NoError(s.t, err, "updating instance %s", name)
	}
}

// deleteInstances deletes every instance.
func (s *chaosSeed) deleteInstances() {
	for _, name := range s.all() {
		err := s.w.dyn.Resource(s.w.gvr).Namespace(s.w.ns).Delete(context.Background(), name, metav1.DeleteOptions{})
		require.NoError(s.t, err, "deleting instance %s", name)
	}
}

// createProgress is the share of the converging instances' children that exist.
func (s *chaosSeed) createProgress() (float64, error) {
	objs, err := s.w.owned()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, o := range objs {
		if o.obj.GetLabels()[metadata.LabelInstanceName] != s.w.collide {
			n++
		}
	}
	return float64(n) / float64(len(chaosKinds)*len(s.w.names)), nil
}

// updateProgress counts, for the converging instances, the ConfigMaps with
// the v2 message and the instances Ready for generation 2.
func (s *chaosSeed) updateProgress() (float64, error) {
	insts, err := s.w.instances()
	if err != nil {
		return 0, err
	}
	cms, err := s.w.dyn.Resource(chaosKinds[0].gvr).Namespace(s.w.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	messages := map[string]string{}
	for _, cm := range cms.Items {
		messages[cm.GetName()], _, _ = unstructured.NestedString(cm.Object, "data", "message")
	}
	n := 0
	for _, name := range s.w.names {
		if messages[name+"-config"] == chaosMessage("v2", name) {
			n++
		}
		if inst, ok := insts[name]; ok && instanceProblem(inst, chaosMessage("v2", name), 2) == "" {
			n++
		}
	}
	return float64(n) / float64(2*len(s.w.names)), nil
}

// deleteProgress is the share of the instances and owned children gone.
func (s *chaosSeed) deleteProgress() (float64, error) {
	insts, err := s.w.instances()
	if err != nil {
		return 0, err
	}
	objs, err := s.w.owned()
	if err != nil {
		return 0, err
	}
	total := len(s.all()) + len(chaosKinds)*len(s.w.names)
	return 1 - float64(len(insts)+len(objs))/float64(total), nil
}

// finish logs the seed's summary line and fails the seed if the engine
// ever exited on its own.
func (s *chaosSeed) finish() {
	s.mu.Lock()
	phase, durations := s.phase, s.durations
	s.mu.Unlock()
	exits := s.eng.unexpectedExits()
	result := "pass"
	if s.t.Failed() || len(exits) > 0 {
		result = "FAIL(" + phase + ")"
	}
	var times []string
	for _, p := range chaosPhases {
		d, ok := durations[p]
		v := "-"
		if ok {
			v = fmt.Sprintf("%.1fs", d.Seconds())
		}
		times = append(times, p+"="+v)
	}
	s.t.Logf("chaos seed=%d result=%s instances=%d kills=%d unexpected_exits=%d %s faults: %s",
		s.seed, result, len(s.w.names), s.eng.killCount(), len(exits), strings.Join(times, " "), s.proxy.Counts())
	if len(exits) > 0 {
		s.t.Errorf("the engine exited by itself %d times (it should exit only when killed):\n  %s", len(exits), strings.Join(exits, "\n  "))
	}
}

// cleanup turns the faults off, deletes what a failed scenario left, and
// deletes the seed's RGD, so that later seeds and tests are unaffected. It
// waits a while for each, and only logs what did not go away.
func (s *chaosSeed) cleanup() {
	s.proxy.SetEnabled(false)
	ctx := context.Background()
	if insts, err := s.w.instances(); err == nil && len(insts) > 0 {
		for name := range insts {
			_ = s.w.dyn.Resource(s.w.gvr).Namespace(s.w.ns).Delete(ctx, name, metav1.DeleteOptions{})
		}
		if ok, last := pollUntil(60*time.Second, 500*time.Millisecond, func() (bool, string) {
			p := s.w.goneProblems()
			return len(p) == 0, formatProblems(p)
		}); !ok {
			s.t.Logf("cleanup: the instances are not all gone: %s", last)
		}
	}
	rgds := s.w.dyn.Resource(v1alpha1.ResourceGraphDefinitionResource)
	if err := rgds.Delete(ctx, s.rgd, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		s.t.Logf("cleanup: deleting RGD %s: %v", s.rgd, err)
		return
	}
	if ok, last := pollUntil(60*time.Second, 250*time.Millisecond, func() (bool, string) {
		_, err := rgds.Get(ctx, s.rgd, metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	}); !ok {
		s.t.Logf("cleanup: RGD %s still exists: %s", s.rgd, last)
	}
}
