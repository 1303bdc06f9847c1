package deploy_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
)

// childKinds are kinds an RGD may template, as group and resource.
var childKinds = [][2]string{
	{"", "configmaps"}, {"", "namespaces"}, {"", "secrets"}, {"", "serviceaccounts"},
	{"apps", "deployments"}, {"rbac.authorization.k8s.io", "rolebindings"}, {"networking.k8s.io", "ingresses"},
}

// objectKey names an object of a rendering.
func objectKey(o *unstructured.Unstructured) string {
	return o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
}

// findObject returns the object of objs with the given kind and name.
func findObject(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	i := slices.IndexFunc(objs, func(o *unstructured.Unstructured) bool { return o.GetKind() == kind && o.GetName() == name })
	require.GreaterOrEqual(t, i, 0, "no %s %s", kind, name)
	return objs[i]
}

func containerArgs(t *testing.T, dep *unstructured.Unstructured) []string {
	t.Helper()
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	require.Len(t, containers, 1)
	args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	return args
}

// TestImpersonationMode applies deploy/impersonation/rgd.yaml (the chart
// with impersonation.enabled) to the API server: it holds what deploy/
// holds, the controller requires a ServiceAccount, and the engine's service
// account may read and watch children and impersonate ServiceAccounts, but
// not write any child itself.
func TestImpersonationMode(t *testing.T) {
	applyManifests(t)
	base, imp := loadRendering(t, defaultRendering), loadRendering(t, impersonationRendering)

	var baseKeys, impKeys []string
	for _, o := range base {
		baseKeys = append(baseKeys, objectKey(o))
	}
	for _, o := range imp {
		impKeys = append(impKeys, objectKey(o))
	}
	extra := slices.DeleteFunc(slices.Clone(impKeys), func(k string) bool { return slices.Contains(baseKeys, k) })
	assert.ElementsMatch(t, []string{"ClusterRole /rgd-impersonate", "ClusterRoleBinding /rgd-impersonate"}, extra)
	missing := slices.DeleteFunc(slices.Clone(baseKeys), func(k string) bool { return slices.Contains(impKeys, k) })
	assert.Empty(t, missing, "the impersonation mode keeps every object of deploy/")
	assert.Equal(t, append(containerArgs(t, findObject(t, base, "Deployment", "rgd")), "--require-service-account"),
		containerArgs(t, findObject(t, imp, "Deployment", "rgd")), "deploy/'s arguments, and --require-service-account")

	cfg := devclustertest.Config()
	require.NoError(t, applyAll(cfg, imp))
	t.Cleanup(func() { restoreBase(t, base) })

	can := canRGD(t)
	eventually(t, "the impersonation mode's RBAC in force", func() (bool, string) {
		return !can("create", "", "configmaps", "team-a") && can("impersonate", "", "serviceaccounts", "team-a"), "not yet"
	})
	for _, k := range childKinds {
		for _, verb := range []string{"create", "update", "patch", "delete", "deletecollection"} {
			assert.False(t, can(verb, k[0], k[1], "team-a"), "rgd may not %s %s.%s itself", verb, k[1], k[0])
		}
		for _, verb := range []string{"get", "list", "watch"} {
			assert.True(t, can(verb, k[0], k[1], "team-a"), "rgd may %s %s.%s", verb, k[1], k[0])
		}
	}
	assert.False(t, can("create", "", "namespaces", ""), "rgd may not create a Namespace itself")
	assert.True(t, can("impersonate", "", "serviceaccounts", "platform"), "rgd may act as a ServiceAccount an RGD names")
	assert.False(t, can("impersonate", "", "users", ""), "rgd may act as no user")
	assert.False(t, can("impersonate", "", "groups", ""), "rgd may act as no group")
	// Its own API stays as in deploy/.
	assert.True(t, can("update", "kro.run", "resourcegraphdefinitions/status", ""), "RGD status")
	assert.True(t, can("patch", "kro.run", "cartsstacks", "team-a"), "instances' finalizers and inventory")
	assert.True(t, can("create", "apiextensions.k8s.io", "customresourcedefinitions", ""), "generated CRDs")
	assert.True(t, can("create", "coordination.k8s.io", "leases", rgdNamespace), "its Lease")
}

// restoreBase puts deploy/'s children role and Deployment back and deletes
// what only the impersonation mode holds, for the package's other tests.
func restoreBase(t *testing.T, base []*unstructured.Unstructured) {
	t.Helper()
	cfg := devclustertest.Config()
	assert.NoError(t, applyAll(cfg, []*unstructured.Unstructured{
		findObject(t, base, "ClusterRole", "rgd-children"), findObject(t, base, "Deployment", "rgd"),
	}))
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	ctx := context.Background()
	for _, err := range []error{
		cs.RbacV1().ClusterRoleBindings().Delete(ctx, "rgd-impersonate", metav1.DeleteOptions{}),
		cs.RbacV1().ClusterRoles().Delete(ctx, "rgd-impersonate", metav1.DeleteOptions{}),
	} {
		assert.True(t, err == nil || apierrors.IsNotFound(err), "%v", err)
	}
	dep, err := cs.AppsV1().Deployments(rgdNamespace).Get(ctx, "rgd", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotContains(t, strings.Join(dep.Spec.Template.Spec.Containers[0].Args, " "), "--require-service-account",
		fmt.Sprintf("deploy/'s Deployment restored: %v", dep.Spec.Template.Spec.Containers[0].Args))
}
