package crashtest_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
	"github.com/rgd-dev/rgd/pkg/devcluster/faultproxy"
)

// The targeted fault tests: one deterministic fault each, injected by the
// fault proxy's rules (no random faults), with the engine as a child
// process talking to the API server through the proxy.

// faultWait bounds each wait of these tests: far more than a retry needs.
const faultWait = 90 * time.Second

// quietProxy starts a fault proxy that injects nothing but its rules, and
// writes its kubeconfig.
func quietProxy(t *testing.T) (*faultproxy.Proxy, string) {
	t.Helper()
	p, err := faultproxy.Start(faultproxy.Options{Upstream: devclustertest.Config(), Seed: 1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	kubeconfig := filepath.Join(t.TempDir(), "proxy.kubeconfig")
	require.NoError(t, p.WriteKubeconfig(kubeconfig))
	return p, kubeconfig
}

// faultEngine starts `rgd controller` through kubeconfig, logging to the
// test's own file.
func faultEngine(t *testing.T, kubeconfig string) (*engineProcess, string) {
	t.Helper()
	bin := buildRGD(t)
	logPath := filepath.Join(t.TempDir(), "rgd-controller.log")
	logOnFailure(t, logPath)
	return startEngineProcess(t, bin, logPath, false, "--kubeconfig", kubeconfig, "--max-retry-delay", "2s"), bin
}

// instanceGeneration waits until an instance is ACTIVE with Ready True for
// its current generation, and returns it.
func waitActiveAtGeneration(t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	t.Helper()
	var out *unstructured.Unstructured
	eventually(t, faultWait, "instance "+name+" ACTIVE at its generation", func() (bool, string) {
		obj, err := dyn.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		out = obj
		state, _, _ := unstructured.NestedString(obj.Object, "status", "state")
		ready := findCondition(obj, "Ready")
		if state != "ACTIVE" || ready == nil || ready["status"] != "True" || int64Of(ready["observedGeneration"]) != obj.GetGeneration() {
			return false, fmt.Sprintf("generation %d, state %q, conditions %s", obj.GetGeneration(), state, conditionSummary(obj))
		}
		return true, ""
	})
	return out
}

// createChainInstance creates one instance of chainRGD's kind.
func createChainInstance(t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, kind, ns, name, message string) {
	t.Helper()
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gvr.GroupVersion().String(), "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"message": message},
	}}
	_, err := dyn.Resource(gvr).Namespace(ns).Create(context.Background(), obj, metav1.CreateOptions{})
	require.NoError(t, err)
}

// setupChain applies chainRGD under name and kind and cleans it up after
// the test (while an engine still runs, the test's own cleanups delete the
// instances first).
func setupChain(t *testing.T, dyn dynamic.Interface, name, kind string) {
	t.Helper()
	applyYAML(t, dyn, v1alpha1.ResourceGraphDefinitionResource, chainRGD(name, kind))
	waitRGDActive(t, dyn, name)
}

// deleteAllInstances deletes every instance of gvr in ns and waits until
// they are gone (an engine must run).
func deleteAllInstances(t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, ns string) {
	t.Helper()
	require.NoError(t, dyn.Resource(gvr).Namespace(ns).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{}))
	eventually(t, faultWait, "instances gone", func() (bool, string) {
		list, err := dyn.Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(list.Items) == 0, fmt.Sprintf("%d left", len(list.Items))
	})
}

// TestFailedApplyIsRetried: one 500 on a child's apply during an update.
// The instance must come back by itself (not stay in ERROR), its ConfigMap
// must get the new value, and the failure's event must carry the API
// server's own message.
func TestFailedApplyIsRetried(t *testing.T) {
	dyn := setup(t)
	proxy, kubeconfig := quietProxy(t)
	faultEngine(t, kubeconfig)
	setupChain(t, dyn, "faultapply", "FaultApply")
	t.Cleanup(func() { deleteRGD(t, dyn, "faultapply") })
	gvr := instanceResource("faultapplies")
	ns := devclustertest.Namespace(t)
	createChainInstance(t, dyn, gvr, "FaultApply", ns, "app", "one")
	waitActiveAtGeneration(t, dyn, gvr, ns, "app")

	fault := proxy.Inject(faultproxy.Rule{Method: http.MethodPatch, PathPrefix: "/api/v1/namespaces/" + ns + "/configmaps/app-config", Times: 1})
	_, err := dyn.Resource(gvr).Namespace(ns).Patch(context.Background(), "app", types.MergePatchType, []byte(`{"spec":{"message":"two"}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	inst := waitActiveAtGeneration(t, dyn, gvr, ns, "app")
	require.EqualValues(t, 2, inst.GetGeneration())
	require.Equal(t, 1, fault.Hits(), "the fault was injected")
	cm, err := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace(ns).Get(context.Background(), "app-config", metav1.GetOptions{})
	require.NoError(t, err)
	got, _, _ := unstructured.NestedString(cm.Object, "data", "message")
	require.Equal(t, "two", got)
	requireEvent(t, dyn, ns, "app", "ApplyFailed", "injected fault")
	deleteAllInstances(t, dyn, gvr, ns)
}

// requireEvent waits for an event of reason on the object named, whose
// message contains want.
func requireEvent(t *testing.T, dyn dynamic.Interface, ns, name, reason, want string) {
	t.Helper()
	events := schema.GroupVersionResource{Version: "v1", Resource: "events"}
	eventually(t, faultWait, "event "+reason+" on "+name, func() (bool, string) {
		list, err := dyn.Resource(events).Namespace(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, ev := range list.Items {
			involved, _, _ := unstructured.NestedString(ev.Object, "involvedObject", "name")
			r, _, _ := unstructured.NestedString(ev.Object, "reason")
			msg, _, _ := unstructured.NestedString(ev.Object, "message")
			if involved == name && r == reason && strings.Contains(msg, want) {
				return true, ""
			}
			seen = append(seen, r+": "+msg)
		}
		return false, strings.Join(seen, " | ")
	})
}

// TestSchemaLookupFailureKeepsTheGraph: while an RGD is recompiled, its
// schema lookups fail. The RGD must not be reported invalid, its instances
// must keep being served, and the new generation must be served once the
// lookups work again.
func TestSchemaLookupFailureKeepsTheGraph(t *testing.T) {
	dyn := setup(t)
	proxy, kubeconfig := quietProxy(t)
	faultEngine(t, kubeconfig)
	setupChain(t, dyn, "faultschema", "FaultSchema")
	t.Cleanup(func() { deleteRGD(t, dyn, "faultschema") })
	gvr := instanceResource("faultschemas")
	ns := devclustertest.Namespace(t)

	fault := proxy.Inject(faultproxy.Rule{Method: http.MethodGet, PathPrefix: "/openapi/v3", Times: 4})
	// A new default for spec.message: a new generation to compile.
	rgd := strings.Replace(chainRGD("faultschema", "FaultSchema"), "default=hello", "default=changed", 1)
	applyYAML(t, dyn, v1alpha1.ResourceGraphDefinitionResource, rgd)
	eventually(t, faultWait, "the new generation served", func() (bool, string) {
		obj, err := dyn.Resource(v1alpha1.ResourceGraphDefinitionResource).Get(context.Background(), "faultschema", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range mustSlice(obj, "status", "conditions") {
			if c["reason"] == v1alpha1.ReasonInvalidResourceGraph {
				t.Fatalf("a failed schema lookup was reported as an invalid graph: %v", c["message"])
			}
		}
		observed, _, _ := unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
		state, _, _ := unstructured.NestedString(obj.Object, "status", "state")
		return state == "Active" && observed == obj.GetGeneration(), fmt.Sprintf("state %q, observed %d of %d", state, observed, obj.GetGeneration())
	})
	require.Equal(t, 4, fault.Hits(), "every injected lookup failure was met")
	createChainInstance(t, dyn, gvr, "FaultSchema", ns, "app", "")
	waitActiveAtGeneration(t, dyn, gvr, ns, "app")
	deleteAllInstances(t, dyn, gvr, ns)
}

// mustSlice returns the maps of a list field (nil when absent).
func mustSlice(obj *unstructured.Unstructured, fields ...string) []map[string]any {
	list, _, _ := unstructured.NestedSlice(obj.Object, fields...)
	out := make([]map[string]any, 0, len(list))
	for _, item := range list {
		if m, ok := item.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// TestStartUpSurvivesFailedRequests: the first request of each step of
// starting fails (reaching the API server, the RGD CRD's install, the first
// list of RGDs). The process must keep going and become ready; it exits
// only when killed.
func TestStartUpSurvivesFailedRequests(t *testing.T) {
	dyn := setup(t)
	proxy, kubeconfig := quietProxy(t)
	steps := []*faultproxy.Injection{
		proxy.Inject(faultproxy.Rule{Method: http.MethodGet, PathPrefix: "/version", Times: 1}),
		proxy.Inject(faultproxy.Rule{Method: http.MethodGet, PathPrefix: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/resourcegraphdefinitions.kro.run", Times: 1}),
		proxy.Inject(faultproxy.Rule{Method: http.MethodGet, PathPrefix: "/apis/kro.run/v1alpha1/resourcegraphdefinitions", Times: 1}),
	}
	faultEngine(t, kubeconfig) // fails the test if the process exits before it is ready
	for i, s := range steps {
		require.Equal(t, 1, s.Hits(), "start-up fault %d was injected", i)
	}
	// And it works: an RGD becomes Active.
	setupChain(t, dyn, "faultstart", "FaultStart")
	deleteRGD(t, dyn, "faultstart")
}

// TestDeletionWithoutAGraph: the engine restarts while an RGD no longer
// compiles. Deleting one of its instances must still delete the children
// and release the instance.
func TestDeletionWithoutAGraph(t *testing.T) {
	dyn := setup(t)
	bin := buildRGD(t)
	logPath := filepath.Join(t.TempDir(), "rgd-controller.log")
	logOnFailure(t, logPath)
	eng := startEngineProcess(t, bin, logPath, false)
	setupChain(t, dyn, "faultnograph", "FaultNoGraph")
	gvr := instanceResource("faultnographs")
	ns := devclustertest.Namespace(t)
	createChainInstance(t, dyn, gvr, "FaultNoGraph", ns, "app", "hi")
	waitActiveAtGeneration(t, dyn, gvr, ns, "app")

	eng.kill()
	// An expression that names a field the schema does not have.
	broken := strings.Replace(chainRGD("faultnograph", "FaultNoGraph"), "${schema.spec.message}", "${schema.spec.nothing}", 1)
	applyYAML(t, dyn, v1alpha1.ResourceGraphDefinitionResource, broken)
	startEngineProcess(t, bin, logPath, false)
	eventually(t, faultWait, "the RGD reported invalid", func() (bool, string) {
		obj, err := dyn.Resource(v1alpha1.ResourceGraphDefinitionResource).Get(context.Background(), "faultnograph", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range mustSlice(obj, "status", "conditions") {
			if c["type"] == "GraphAccepted" && c["reason"] == v1alpha1.ReasonInvalidResourceGraph {
				return true, ""
			}
		}
		return false, fmt.Sprint(mustSlice(obj, "status", "conditions"))
	})

	require.NoError(t, dyn.Resource(gvr).Namespace(ns).Delete(context.Background(), "app", metav1.DeleteOptions{}))
	eventually(t, faultWait, "the instance and its children gone", func() (bool, string) {
		_, err := dyn.Resource(gvr).Namespace(ns).Get(context.Background(), "app", metav1.GetOptions{})
		children, lerr := ownedChildren(dyn, ns)
		if lerr != nil {
			return false, lerr.Error()
		}
		return apierrors.IsNotFound(err) && len(children) == 0, fmt.Sprintf("instance: %v; children: %v", err, children)
	})
	deleteRGD(t, dyn, "faultnograph")
}
