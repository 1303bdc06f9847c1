package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/devcluster"
	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
	"github.com/rgd-dev/rgd/pkg/engine"
	"github.com/rgd-dev/rgd/pkg/manifest"
)

// The control plane runs the controller manager, so that deletion works as in
// a cluster (garbage collection, namespace deletion).
func TestMain(m *testing.M) {
	devclustertest.Main(m, devcluster.Options{ControllerManager: true})
}

// The identity the manifests give rgd.
const (
	rgdNamespace      = "rgd-system"
	rgdServiceAccount = "rgd"
	rgdUser           = "system:serviceaccount:" + rgdNamespace + ":" + rgdServiceAccount
)

// stepTimeout is the deadline of one step: generous for a loaded 2-core machine,
// never reached when things work.
const stepTimeout = 60 * time.Second

// kustomization is the part of a kustomization.yaml these manifests use.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

// loadKustomization reads the objects of the kustomization in dir: its
// resources in order (a directory is another kustomization), with its image
// overrides applied to every container.
func loadKustomization(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	require.NoError(t, err)
	var k kustomization
	require.NoError(t, yaml.UnmarshalStrict(raw, &k), "%s/kustomization.yaml: a field this test does not apply", dir)
	var objs []*unstructured.Unstructured
	for _, res := range k.Resources {
		path := filepath.Join(dir, res)
		info, err := os.Stat(path)
		require.NoError(t, err, "%s/kustomization.yaml names %s", dir, res)
		if info.IsDir() {
			objs = append(objs, loadKustomization(t, path)...)
			continue
		}
		docs, err := manifest.ReadFile(path)
		require.NoError(t, err)
		for _, d := range docs {
			objs = append(objs, d.Object)
		}
	}
	for _, obj := range objs {
		containers, _, _ := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "containers")
		for i, c := range containers {
			c := c.(map[string]any)
			for _, img := range k.Images {
				if c["image"] == img.Name {
					c["image"] = img.NewName + ":" + img.NewTag
				}
			}
			containers[i] = c
		}
		if containers != nil {
			require.NoError(t, unstructured.SetNestedSlice(obj.Object, containers, "spec", "template", "spec", "containers"))
		}
	}
	return objs
}

var (
	applyOnce sync.Once
	applyErr  error
)

// applyManifests applies deploy/ to the control plane once for the package,
// the way `kubectl apply --server-side -k deploy/` would: strict field
// validation, so a misspelt field fails instead of being dropped.
func applyManifests(t *testing.T) {
	t.Helper()
	devclustertest.RequireCluster(t)
	objs := loadKustomization(t, ".")
	applyOnce.Do(func() { applyErr = applyAll(devclustertest.Config(), objs) })
	require.NoError(t, applyErr)
}

func applyAll(cfg *rest.Config, objs []*unstructured.Unstructured) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	cached := memory.NewMemCacheClient(disc)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(cached)
	ctx := context.Background()
	// CRDs and namespaces first, as kubectl orders them.
	rank := func(o *unstructured.Unstructured) int {
		if o.GetKind() == "CustomResourceDefinition" || o.GetKind() == "Namespace" {
			return 0
		}
		return 1
	}
	ordered := slices.Clone(objs)
	slices.SortStableFunc(ordered, func(a, b *unstructured.Unstructured) int { return rank(a) - rank(b) })
	for _, o := range ordered {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("%s %s: %w", gvk.Kind, o.GetName(), err)
		}
		var client dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			client = dyn.Resource(m.Resource).Namespace(o.GetNamespace())
		}
		body, err := o.MarshalJSON()
		if err != nil {
			return err
		}
		// Apply through Patch: ApplyOptions cannot ask for strict validation.
		if _, err := client.Patch(ctx, o.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{
			FieldManager: "deploy-test", Force: ptr.To(true), FieldValidation: metav1.FieldValidationStrict,
		}); err != nil {
			return fmt.Errorf("applying %s %s: %w", gvk.Kind, o.GetName(), err)
		}
		if gvk.Kind == "CustomResourceDefinition" {
			if err := waitEstablished(ctx, dyn, o.GetName()); err != nil {
				return err
			}
			cached.Invalidate()
			mapper.Reset()
		}
	}
	return nil
}

func waitEstablished(ctx context.Context, dyn dynamic.Interface, name string) error {
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, stepTimeout, true, func(ctx context.Context) (bool, error) {
		crd, err := dyn.Resource(crds).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil // not there yet, or a passing error: poll again
		}
		conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, c := range conds {
			if c, ok := c.(map[string]any); ok && c["type"] == "Established" && c["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("CRD %s not established: %w", name, err)
	}
	return nil
}

// asRGD is the admin configuration impersonating rgd's service account
// (the API server adds the service-account groups).
func asRGD() *rest.Config {
	cfg := devclustertest.Config()
	cfg.Impersonate = rest.ImpersonationConfig{UserName: rgdUser}
	return cfg
}

// TestManifests checks what `kubectl apply -k deploy/` sets up: the objects
// are valid for the API server, the pod passes the namespace's "restricted"
// Pod Security level, and the controller flags in the Deployment exist.
func TestManifests(t *testing.T) {
	applyManifests(t)
	cs, err := kubernetes.NewForConfig(devclustertest.Config())
	require.NoError(t, err)
	ctx := context.Background()

	dep, err := cs.AppsV1().Deployments(rgdNamespace).Get(ctx, "rgd", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, rgdServiceAccount, dep.Spec.Template.Spec.ServiceAccountName)
	require.Len(t, dep.Spec.Template.Spec.Containers, 1)
	c := dep.Spec.Template.Spec.Containers[0]
	assert.Equal(t, "ghcr.io/rgd-dev/rgd:latest", c.Image, "the kustomization's image override")
	assert.Equal(t, "controller", c.Args[0])
	assert.Contains(t, c.Args, "--install-crds=false", "the manifests bring the CRDs")

	// Pod Security admission runs on dry-run creates too: a pod of the
	// Deployment's template must be admitted in the restricted namespace.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "rgd-", Namespace: rgdNamespace, Labels: dep.Spec.Template.Labels},
		Spec:       dep.Spec.Template.Spec,
	}
	_, err = cs.CoreV1().Pods(rgdNamespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	require.NoError(t, err, "a pod of the Deployment is admitted under Pod Security %q", "restricted")
	// And the check is real: a privileged variant is refused.
	bad := pod.DeepCopy()
	bad.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
	_, err = cs.CoreV1().Pods(rgdNamespace).Create(ctx, bad, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	require.Error(t, err, "Pod Security refuses privilege escalation in rgd-system")
	assert.True(t, apierrors.IsForbidden(err), "%v", err)
}

// TestServiceAccountPermissions asks the API server what rgd's service
// account may do outside the engine's reconciles: its Lease and events.
func TestServiceAccountPermissions(t *testing.T) {
	applyManifests(t)
	can := canRGD(t)
	for _, verb := range []string{"get", "create", "update"} {
		assert.True(t, can(verb, "coordination.k8s.io", "leases", rgdNamespace), "%s its Lease", verb)
	}
	assert.True(t, can("create", "", "events", "team-a"), "events on instances anywhere")
	assert.True(t, can("patch", "kro.run", "cartsstacks", "team-a"), "instances of any generated kind")
	assert.True(t, can("update", "kro.run", "resourcegraphdefinitions/status", ""), "RGD status")
	assert.True(t, can("create", "apiextensions.k8s.io", "customresourcedefinitions", ""), "generated CRDs")
}

// canRGD returns a SubjectAccessReview for rgd's service account.
func canRGD(t *testing.T) func(verb, group, resource, namespace string) bool {
	cs, err := kubernetes.NewForConfig(devclustertest.Config())
	require.NoError(t, err)
	return func(verb, group, resource, namespace string) bool {
		t.Helper()
		sar, err := cs.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User:   rgdUser,
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + rgdNamespace, "system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Verb: verb, Group: group, Resource: resource, Namespace: namespace,
				},
			},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		return sar.Status.Allowed
	}
}

// narrowChildren sets the rgd-children ClusterRole to the verbs rgd needs
// on the given core kinds, as children-rbac.yaml advises, and puts the
// manifest's rules back when the test ends.
func narrowChildren(t *testing.T, resources ...string) {
	t.Helper()
	original := setChildren(t, resources...)
	t.Cleanup(func() { setChildRules(t, original) })
}

// setChildren sets the rgd-children ClusterRole to the verbs rgd needs on
// the given core kinds, and returns its rules before.
func setChildren(t *testing.T, resources ...string) []rbacv1.PolicyRule {
	t.Helper()
	return setChildRules(t, []rbacv1.PolicyRule{{
		APIGroups: []string{""},
		Resources: resources,
		Verbs:     []string{"get", "list", "watch", "create", "update", "patch", "delete"},
	}})
}

// setChildRules replaces the rules of the rgd-children ClusterRole and
// returns the rules it had.
func setChildRules(t *testing.T, rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	t.Helper()
	return setRoleRules(t, "rgd-children", rules)
}

// setRoleRules replaces the rules of a ClusterRole and returns the rules it
// had.
func setRoleRules(t *testing.T, name string, rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	t.Helper()
	cs, err := kubernetes.NewForConfig(devclustertest.Config())
	require.NoError(t, err)
	ctx := context.Background()
	role, err := cs.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	before := role.Rules
	role.Rules = rules
	_, err = cs.RbacV1().ClusterRoles().Update(ctx, role, metav1.UpdateOptions{})
	require.NoError(t, err)
	return before
}

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

// TestEngineWithTheManifestsPermissions runs the engine as rgd's service
// account, with the children narrowed to ConfigMaps and ServiceAccounts: the
// permissions of rbac.yaml are all the engine needs, the narrowing works as
// children-rbac.yaml says, and a child outside it is reported, not retried
// in silence.
func TestEngineWithTheManifestsPermissions(t *testing.T) {
	applyManifests(t)
	narrowChildren(t, "configmaps", "serviceaccounts")

	// Without the catch-all children role, rbac.yaml alone is in force.
	can := canRGD(t)
	eventually(t, "the narrowed role in force", func() (bool, string) {
		return !can("list", "", "secrets", ""), "the authorizer still grants Secrets"
	})
	assert.False(t, can("get", "coordination.k8s.io", "leases", "kube-system"), "Leases only in its own namespace")
	assert.False(t, can("delete", "apiextensions.k8s.io", "customresourcedefinitions", ""),
		"deleting CRDs (and every instance with them) only if you grant it for --allow-crd-deletion")
	assert.False(t, can("create", "kro.run", "resourcegraphdefinitions", ""), "rgd never creates RGDs")

	startEngine(t)

	dyn, err := dynamic.NewForConfig(devclustertest.Config())
	require.NoError(t, err)
	ns := devclustertest.Namespace(t)
	applyYAML(t, dyn, ns, `
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
`)
	waitState(t, dyn, v1alpha1.ResourceGraphDefinitionResource, "", "deploytest", "Active")
	instances := schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "deploytests"}
	applyYAML(t, dyn, ns, `
apiVersion: kro.run/v1alpha1
kind: DeployTest
metadata:
  name: demo
  namespace: NAMESPACE
spec:
  message: hi
`)
	waitState(t, dyn, instances, ns, "demo", "ACTIVE")
	waitObject(t, dyn, configMaps, ns, "demo", "message hi", func(o *unstructured.Unstructured) bool {
		v, _, _ := unstructured.NestedString(o.Object, "data", "message")
		return v == "hi"
	})
	_, err = dyn.Resource(instances).Namespace(ns).Patch(context.Background(), "demo", types.MergePatchType,
		[]byte(`{"spec":{"message":"bonjour"}}`), metav1.PatchOptions{})
	require.NoError(t, err)
	waitObject(t, dyn, configMaps, ns, "demo", "message bonjour", func(o *unstructured.Unstructured) bool {
		v, _, _ := unstructured.NestedString(o.Object, "data", "message")
		return v == "bonjour"
	})
	require.NoError(t, dyn.Resource(instances).Namespace(ns).Delete(context.Background(), "demo", metav1.DeleteOptions{}))
	for _, gvr := range []schema.GroupVersionResource{instances, configMaps, serviceAccounts} {
		waitGone(t, dyn, gvr, ns, "demo")
	}

	// A child kind outside the role: the RGD or its instance says so.
	applyYAML(t, dyn, ns, `
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
`)
	rgd := waitObject(t, dyn, v1alpha1.ResourceGraphDefinitionResource, "", "deploytest-secret", "Ready names the refusal",
		func(o *unstructured.Unstructured) bool {
			c := condition(o, "Ready")
			return c["status"] == "False" && strings.Contains(fmt.Sprint(c["message"]), "forbidden")
		})
	msg := fmt.Sprint(condition(rgd, "Ready")["message"])
	assert.Contains(t, msg, "secrets", "the message names the kind")
	assert.Contains(t, msg, rgdUser, "and who was refused")
	state, _, _ := unstructured.NestedString(rgd.Object, "status", "state")
	assert.Equal(t, "Inactive", state)

	// Granting the kind is enough: the RGD recovers on its own, and its
	// instances are served.
	setChildren(t, "configmaps", "serviceaccounts", "secrets")
	waitState(t, dyn, v1alpha1.ResourceGraphDefinitionResource, "", "deploytest-secret", "Active")
	secretInstances := schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "deploytestsecrets"}
	applyYAML(t, dyn, ns, `
apiVersion: kro.run/v1alpha1
kind: DeployTestSecret
metadata:
  name: demo
  namespace: NAMESPACE
`)
	waitState(t, dyn, secretInstances, ns, "demo", "ACTIVE")
	_, err = dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}).Namespace(ns).Get(context.Background(), "demo", metav1.GetOptions{})
	require.NoError(t, err, "the Secret exists")
}

// TestRefusedRGDWriteIsAnEvent takes patch on kro.run away from rgd: it can
// then write neither the RGD's finalizer nor anything else, and the only
// place left to say why is a Warning event on the RGD. Given patch back, the
// RGD turns Active on its own.
func TestRefusedRGDWriteIsAnEvent(t *testing.T) {
	applyManifests(t)
	narrowChildren(t, "configmaps")
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
