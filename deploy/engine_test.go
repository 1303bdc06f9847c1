package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
	"github.com/rgd-dev/rgd/pkg/engine"
)

// startEngine runs an engine as rgd's service account until the test ends.
func startEngine(t *testing.T) {
	t.Helper()
	eng, err := engine.New(asRGD(), engine.Options{Logger: logr.Discard(), Workers: 4})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(stepTimeout):
			t.Error("the engine did not stop")
		}
	})
	eventually(t, "the engine is ready", func() (bool, string) {
		select {
		case err := <-done:
			done <- err
			return false, fmt.Sprintf("the engine stopped: %v", err)
		default:
		}
		return eng.Ready(), "not ready"
	})
}

// TestEngineWithTheChartsPermissions runs the engine as rgd's service
// account with exactly the RBAC of the chart's default rendering: an RGD
// and its instance turn Active, the instance's children follow its spec,
// and deleting the instance and the RGD removes everything they made.
func TestEngineWithTheChartsPermissions(t *testing.T) {
	applyManifests(t)
	startEngine(t)

	dyn, err := dynamic.NewForConfig(devclustertest.Config())
	require.NoError(t, err)
	ns := devclustertest.Namespace(t)
	applyYAML(t, dyn, ns, deployTestRGD)
	waitState(t, dyn, v1alpha1.ResourceGraphDefinitionResource, "", "deploytest", "Active")
	applyYAML(t, dyn, ns, `
apiVersion: kro.run/v1alpha1
kind: DeployTest
metadata:
  name: demo
  namespace: NAMESPACE
spec:
  message: hi
`)
	waitState(t, dyn, deployTests, ns, "demo", "ACTIVE")
	waitObject(t, dyn, configMaps, ns, "demo", "message hi", func(o *unstructured.Unstructured) bool {
		v, _, _ := unstructured.NestedString(o.Object, "data", "message")
		return v == "hi"
	})
	_, err = dyn.Resource(deployTests).Namespace(ns).Patch(context.Background(), "demo", types.MergePatchType,
		[]byte(`{"spec":{"message":"bonjour"}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	waitObject(t, dyn, configMaps, ns, "demo", "message bonjour", func(o *unstructured.Unstructured) bool {
		v, _, _ := unstructured.NestedString(o.Object, "data", "message")
		return v == "bonjour"
	})
	require.NoError(t, dyn.Resource(deployTests).Namespace(ns).Delete(context.Background(), "demo", metav1.DeleteOptions{}))
	for _, gvr := range []schema.GroupVersionResource{deployTests, configMaps, serviceAccounts} {
		waitGone(t, dyn, gvr, ns, "demo")
	}
	require.NoError(t, dyn.Resource(v1alpha1.ResourceGraphDefinitionResource).Delete(context.Background(), "deploytest", metav1.DeleteOptions{}))
	waitGone(t, dyn, v1alpha1.ResourceGraphDefinitionResource, "", "deploytest")
}

// TestNarrowedChildren runs the engine with the children's RBAC the chart
// renders for values that list ConfigMaps and ServiceAccounts only
// (testdata/narrow-children-values.yaml): the engine's own role is then all
// it needs for its API, kinds inside the list work, and a kind outside it
// is reported with the permission it lacks, not retried in silence.
func TestNarrowedChildren(t *testing.T) {
	applyManifests(t)
	assertOnlyChildrenRoleDiffers(t, loadRendering(t, defaultRendering), loadRendering(t, narrowRendering))
	useChildrenRole(t, narrowRendering)

	// Without the catch-all children role, the engine's own role alone is
	// in force.
	can := canRGD(t)
	eventually(t, "the narrowed role in force", func() (bool, string) {
		return !can("list", "", "secrets", ""), "the authorizer still grants Secrets"
	})
	assert.True(t, can("create", "", "configmaps", "team-a"), "the listed kinds")
	assert.False(t, can("get", "coordination.k8s.io", "leases", "kube-system"), "Leases only in its own namespace")
	assert.False(t, can("delete", "apiextensions.k8s.io", "customresourcedefinitions", ""),
		"deleting CRDs (and every instance with them) only with controller.allowCRDDeletion")
	assert.False(t, can("create", "kro.run", "resourcegraphdefinitions", ""), "rgd never creates RGDs")

	startEngine(t)
	dyn, err := dynamic.NewForConfig(devclustertest.Config())
	require.NoError(t, err)
	ns := devclustertest.Namespace(t)

	// Kinds inside the list.
	applyYAML(t, dyn, ns, strings.ReplaceAll(strings.ReplaceAll(deployTestRGD, "deploytest", "deploytest-narrow"), "DeployTest", "DeployTestNarrow"))
	waitState(t, dyn, v1alpha1.ResourceGraphDefinitionResource, "", "deploytest-narrow", "Active")
	narrowInstances := schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "deploytestnarrows"}
	applyYAML(t, dyn, ns, `
apiVersion: kro.run/v1alpha1
kind: DeployTestNarrow
metadata:
  name: demo
  namespace: NAMESPACE
`)
	waitState(t, dyn, narrowInstances, ns, "demo", "ACTIVE")

	// A kind outside it: the RGD's conditions name the refused request.
	applyYAML(t, dyn, ns, deployTestSecretRGD)
	assertSecretsRefused(t, dyn)

	// The kind's CRD exists, so an instance can be created meanwhile: its
	// Ready condition names the refused request, and it is reconciled once
	// the kind is granted. Granting it (the chart's default: every kind) is
	// enough: the RGD recovers on its own.
	secretInstances := schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "deploytestsecrets"}
	applyYAML(t, dyn, ns, `
apiVersion: kro.run/v1alpha1
kind: DeployTestSecret
metadata:
  name: demo
  namespace: NAMESPACE
`)
	refused := waitObject(t, dyn, secretInstances, ns, "demo", "the instance's Ready condition names the refusal",
		func(o *unstructured.Unstructured) bool { return condition(o, "Ready")["reason"] == "FailedToStart" })
	msg := fmt.Sprint(condition(refused, "Ready")["message"])
	assert.Equal(t, "False", condition(refused, "Ready")["status"])
	assert.Contains(t, msg, "rgd cannot serve kind DeployTestSecret")
	assert.Contains(t, msg, `cannot list resource "secrets"`, "the verb and the resource")
	assert.Contains(t, msg, rgdUser, "and who was refused")
	applyChildrenRole(t, defaultRendering)
	waitState(t, dyn, v1alpha1.ResourceGraphDefinitionResource, "", "deploytest-secret", "Active")
	waitState(t, dyn, secretInstances, ns, "demo", "ACTIVE")
	_, err = dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}).Namespace(ns).Get(context.Background(), "demo", metav1.GetOptions{})
	require.NoError(t, err, "the Secret exists")
}

// assertSecretsRefused waits until the RGD deploytest-secret reports that
// rgd may not list Secrets, and checks that its conditions name the
// refused request: who, which verb, which resource, where.
func assertSecretsRefused(t *testing.T, dyn dynamic.Interface) {
	t.Helper()
	rgd := waitObject(t, dyn, v1alpha1.ResourceGraphDefinitionResource, "", "deploytest-secret", "Ready names the refusal",
		func(o *unstructured.Unstructured) bool {
			c := condition(o, "Ready")
			return c["status"] == "False" && strings.Contains(fmt.Sprint(c["message"]), "forbidden")
		})
	msg := fmt.Sprint(condition(rgd, "Ready")["message"])
	assert.Contains(t, msg, `cannot list resource "secrets"`, "the message names the verb and the resource")
	assert.Contains(t, msg, "at the cluster scope", "and where")
	assert.Contains(t, msg, rgdUser, "and who was refused")
	state, _, _ := unstructured.NestedString(rgd.Object, "status", "state")
	assert.Equal(t, "Inactive", state)
	controllerReady := condition(rgd, "ControllerReady")
	assert.Equal(t, "False", controllerReady["status"], "the kind's controller did not start")
	assert.Equal(t, "FailedToStart", controllerReady["reason"])
	assert.Equal(t, msg, controllerReady["message"])
	require.Equal(t, "True", condition(rgd, "KindReady")["status"], "the kind's CRD is served")
}

// deployTestSecretRGD is an RGD of kind DeployTestSecret with a Secret.
const deployTestSecretRGD = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: deploytest-secret
spec:
  schema:
    apiVersion: v1alpha1
    kind: DeployTestSecret
    spec:
      token: string | default=abc
  resources:
  - id: token
    template:
      apiVersion: v1
      kind: Secret
      metadata:
        name: ${schema.metadata.name}
      stringData:
        token: ${schema.spec.token}
`

// assertOnlyChildrenRoleDiffers checks that two renderings of the chart hold
// the same objects, and differ only in the children's ClusterRole.
func assertOnlyChildrenRoleDiffers(t *testing.T, a, b []*unstructured.Unstructured) {
	t.Helper()
	require.Equal(t, len(a), len(b), "the same objects")
	for i := range a {
		require.Equal(t, objectKey(a[i]), objectKey(b[i]), "the same objects in the same order")
		if a[i].GetKind() == "ClusterRole" && a[i].GetName() == "rgd-children" {
			assert.NotEqual(t, a[i].Object["rules"], b[i].Object["rules"], "the children's rules differ")
			continue
		}
		assert.Equal(t, a[i].Object, b[i].Object, "%s is the same", objectKey(a[i]))
	}
}

// deployTestRGD is an RGD of kind DeployTest with a ServiceAccount and a
// ConfigMap.
const deployTestRGD = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: deploytest
spec:
  schema:
    apiVersion: v1alpha1
    kind: DeployTest
    spec:
      message: string | default=hello
    status:
      account: ${account.metadata.name}
  resources:
  - id: account
    template:
      apiVersion: v1
      kind: ServiceAccount
      metadata:
        name: ${schema.metadata.name}
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}
      data:
        message: ${schema.spec.message}
        account: ${account.metadata.name}
`

// TestRefusedRGDWriteIsAnEvent takes patch on kro.run away from rgd: it can
// then write neither the RGD's finalizer nor anything else, and the only
// place left to say why is a Warning event on the RGD. Given patch back, the
// RGD turns Active on its own.
func TestRefusedRGDWriteIsAnEvent(t *testing.T) {
	applyManifests(t)
	useChildrenRole(t, narrowRendering)
	cs, err := kubernetes.NewForConfig(devclustertest.Config())
	require.NoError(t, err)
	role, err := cs.RbacV1().ClusterRoles().Get(context.Background(), "rgd-controller", metav1.GetOptions{})
	require.NoError(t, err)
	original := role.Rules
	t.Cleanup(func() { setRoleRules(t, "rgd-controller", original) })
	var rules []rbacv1.PolicyRule
	for _, r := range original {
		if slices.Contains(r.APIGroups, "kro.run") {
			r = *r.DeepCopy()
			r.Verbs = slices.DeleteFunc(r.Verbs, func(v string) bool { return v == "patch" })
		}
		rules = append(rules, r)
	}
	setRoleRules(t, "rgd-controller", rules)
	can := canRGD(t)
	eventually(t, "patch on RGDs withdrawn", func() (bool, string) {
		return !can("patch", "kro.run", "resourcegraphdefinitions", ""), "the authorizer still grants it"
	})
	startEngine(t)

	dyn, err := dynamic.NewForConfig(devclustertest.Config())
	require.NoError(t, err)
	applyYAML(t, dyn, "", `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: deploytest-refused
spec:
  schema:
    apiVersion: v1alpha1
    kind: DeployTestRefused
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}
`)
	var event corev1.Event
	eventually(t, "a ReconcileFailed event on the RGD", func() (bool, string) {
		list, err := cs.CoreV1().Events(metav1.NamespaceDefault).List(context.Background(), metav1.ListOptions{
			FieldSelector: "involvedObject.name=deploytest-refused,reason=ReconcileFailed",
		})
		if err != nil {
			return false, err.Error()
		}
		if len(list.Items) == 0 {
			return false, "no event"
		}
		event = list.Items[0]
		return true, ""
	})
	assert.Equal(t, corev1.EventTypeWarning, event.Type)
	assert.Equal(t, "ResourceGraphDefinition", event.InvolvedObject.Kind)
	assert.Contains(t, event.Message, "forbidden")
	assert.Contains(t, event.Message, "patch")

	setRoleRules(t, "rgd-controller", original)
	waitState(t, dyn, v1alpha1.ResourceGraphDefinitionResource, "", "deploytest-refused", "Active")
}

// condition returns the status condition of type typ (nil when absent).
func condition(o *unstructured.Unstructured, typ string) map[string]any {
	conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, c := range conds {
		if c, ok := c.(map[string]any); ok && c["type"] == typ {
			return c
		}
	}
	return nil
}

var (
	configMaps      = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	serviceAccounts = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	deployTests     = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "deploytests"}
)

// applyYAML server-side-applies one object as the admin, with NAMESPACE
// replaced by namespace.
func applyYAML(t *testing.T, dyn dynamic.Interface, namespace, doc string) {
	t.Helper()
	doc = strings.ReplaceAll(doc, "NAMESPACE", namespace)
	obj := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(doc), &obj.Object))
	gvr := v1alpha1.ResourceGraphDefinitionResource
	if obj.GetKind() != "ResourceGraphDefinition" {
		gvr = obj.GroupVersionKind().GroupVersion().WithResource(strings.ToLower(obj.GetKind()) + "s")
	}
	_, err := dyn.Resource(gvr).Namespace(obj.GetNamespace()).Apply(context.Background(), obj.GetName(), obj,
		metav1.ApplyOptions{FieldManager: "deploy-test", Force: true})
	require.NoError(t, err)
}

// waitState polls an RGD or an instance until its status.state is state.
func waitState(t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, namespace, name, state string) {
	t.Helper()
	waitObject(t, dyn, gvr, namespace, name, "state "+state, func(o *unstructured.Unstructured) bool {
		s, _, _ := unstructured.NestedString(o.Object, "status", "state")
		return s == state
	})
}

// waitObject polls an object until check holds, and returns it.
func waitObject(t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, namespace, name, what string, check func(*unstructured.Unstructured) bool) *unstructured.Unstructured {
	t.Helper()
	var obj *unstructured.Unstructured
	eventually(t, fmt.Sprintf("%s %s/%s: %s", gvr.Resource, namespace, name, what), func() (bool, string) {
		o, err := dyn.Resource(gvr).Namespace(namespace).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		obj = o
		status, _ := json.Marshal(o.Object["status"])
		return check(o), "status: " + string(status)
	})
	return obj
}

func waitGone(t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, namespace, name string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s %s/%s deleted", gvr.Resource, namespace, name), func() (bool, string) {
		_, err := dyn.Resource(gvr).Namespace(namespace).Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		return false, fmt.Sprintf("still there (%v)", err)
	})
}

// eventually waits for cond with the step's deadline.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	devclustertest.Eventually(t, stepTimeout, what, cond)
}
