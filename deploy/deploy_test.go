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
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
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

// kustomization is the part of a kustomization.yaml these manifests use.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	// Patches are strategic-merge patches, each naming its target by the
	// kind, name and namespace it holds.
	Patches []struct {
		Path string `json:"path"`
	} `json:"patches"`
	Images []struct {
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
	for _, p := range k.Patches {
		applyPatchFile(t, objs, filepath.Join(dir, p.Path))
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

// applyPatchFile applies each strategic-merge patch in path to the object
// of objs it names, as kustomize does: lists the API merges by a key (a
// Deployment's containers) are merged, other lists replaced.
func applyPatchFile(t *testing.T, objs []*unstructured.Unstructured, path string) {
	t.Helper()
	docs, err := manifest.ReadFile(path)
	require.NoError(t, err)
	for _, d := range docs {
		patch := d.Object
		i := slices.IndexFunc(objs, func(o *unstructured.Unstructured) bool {
			return o.GroupVersionKind() == patch.GroupVersionKind() && o.GetName() == patch.GetName() && o.GetNamespace() == patch.GetNamespace()
		})
		require.GreaterOrEqual(t, i, 0, "%s: no %s %s to patch", path, patch.GetKind(), patch.GetName())
		typed, err := scheme.Scheme.New(patch.GroupVersionKind())
		require.NoError(t, err, "%s: a kind without a Go type cannot be strategic-merged", path)
		original, err := objs[i].MarshalJSON()
		require.NoError(t, err)
		merged, err := strategicpatch.StrategicMergePatch(original, d.JSON, typed)
		require.NoError(t, err, "%s", path)
		out := &unstructured.Unstructured{}
		require.NoError(t, out.UnmarshalJSON(merged))
		objs[i] = out
	}
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
