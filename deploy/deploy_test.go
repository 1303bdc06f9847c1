package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

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

	"github.com/rgd-dev/rgd/pkg/devcluster"
	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
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

// The renderings of the chart (charts/rgd) that hack/chart writes.
const (
	// defaultRendering is deploy/: the chart's defaults.
	defaultRendering = "rgd.yaml"
	// impersonationRendering is the least-privilege mode.
	impersonationRendering = "impersonation/rgd.yaml"
	// narrowRendering has the children's RBAC narrowed by values to
	// ConfigMaps and ServiceAccounts (testdata/narrow-children-values.yaml).
	narrowRendering = "testdata/narrow-children.yaml"
)

// loadRendering reads the objects of a rendering of the chart, in order.
func loadRendering(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	docs, err := manifest.ReadFile(path)
	require.NoError(t, err)
	objs := make([]*unstructured.Unstructured, 0, len(docs))
	for _, d := range docs {
		objs = append(objs, d.Object)
	}
	return objs
}

// TestKustomizations checks that `kubectl apply -k` on deploy/ and
// deploy/impersonation/ installs exactly the chart's rendering beside each.
func TestKustomizations(t *testing.T) {
	for _, dir := range []string{".", "impersonation"} {
		raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
		require.NoError(t, err)
		var k struct {
			APIVersion string   `json:"apiVersion"`
			Kind       string   `json:"kind"`
			Resources  []string `json:"resources"`
		}
		require.NoError(t, yaml.UnmarshalStrict(raw, &k), "%s/kustomization.yaml: only resources, no patches or images", dir)
		assert.Equal(t, []string{"rgd.yaml"}, k.Resources, "%s/kustomization.yaml", dir)
	}
}

var (
	applyOnce sync.Once
	applyErr  error
)

// applyManifests applies deploy/rgd.yaml to the control plane once for the
// package, the way `kubectl apply --server-side -f deploy/rgd.yaml` would:
// strict field validation, so a misspelt field fails instead of being
// dropped.
func applyManifests(t *testing.T) {
	t.Helper()
	devclustertest.RequireCluster(t)
	objs := loadRendering(t, defaultRendering)
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

// TestManifests checks what `kubectl apply -f deploy/rgd.yaml` sets up: the
// objects are valid for the API server, the pod passes the namespace's
// "restricted" Pod Security level, and the controller flags in the
// Deployment exist.
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
	assert.Equal(t, "ghcr.io/rgd-dev/rgd:"+chartAppVersion(t), c.Image, "the chart's image: its appVersion by default")
	assert.Equal(t, "controller", c.Args[0])
	assert.Contains(t, c.Args, "--install-crds=false", "the manifests bring the CRDs")
	assert.Contains(t, c.Args, "--leader-elect=true")
	require.Len(t, c.Env, 1)
	assert.Equal(t, "GOMEMLIMIT", c.Env[0].Name)
	require.NotNil(t, c.Env[0].ValueFrom)
	ref := c.Env[0].ValueFrom.ResourceFieldRef
	require.NotNil(t, ref, "GOMEMLIMIT is the container's memory limit")
	assert.Equal(t, "rgd", ref.ContainerName)
	assert.Equal(t, "limits.memory", ref.Resource)
	assert.True(t, ref.Divisor.IsZero() || ref.Divisor.Value() == 1, "in bytes, as GOMEMLIMIT reads a plain number: %s", ref.Divisor.String())

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

// chartAppVersion is the appVersion of charts/rgd/Chart.yaml.
func chartAppVersion(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../charts/rgd/Chart.yaml")
	require.NoError(t, err)
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &chart))
	require.NotEmpty(t, chart.AppVersion)
	return chart.AppVersion
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
	assert.False(t, can("impersonate", "", "serviceaccounts", "team-a"), "impersonation only in its mode")
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

// useChildrenRole replaces the rgd-children ClusterRole with the one of a
// rendering of the chart (narrowRendering, defaultRendering), and puts
// deploy/'s back when the test ends.
func useChildrenRole(t *testing.T, rendering string) {
	t.Helper()
	t.Cleanup(func() { applyChildrenRole(t, defaultRendering) })
	applyChildrenRole(t, rendering)
}

// applyChildrenRole applies the rgd-children ClusterRole of a rendering.
func applyChildrenRole(t *testing.T, rendering string) {
	t.Helper()
	role := findObject(t, loadRendering(t, rendering), "ClusterRole", "rgd-children")
	require.NoError(t, applyAll(devclustertest.Config(), []*unstructured.Unstructured{role}))
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
