package instance

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/rgd-dev/rgd/pkg/devcluster"
	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
)

func TestMain(m *testing.M) { devclustertest.Main(m, devcluster.Options{}) }

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// clusterReconciler returns a Reconciler (without informers) on the shared
// control plane, reading the API server's answers, and a typed client.
func clusterReconciler(t *testing.T) (*Reconciler, kubernetes.Interface) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(devclustertest.Config())
	require.NoError(t, err)
	client, err := RESTClientFor(devclustertest.Config())
	require.NoError(t, err)
	return New(dynamic.New(client), nil, Options{Client: client}), cs
}

func TestObjectPath(t *testing.T) {
	assert.Equal(t, []string{"/api", "v1", "namespaces", "ns", "configmaps", "c"},
		objectPath(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, "ns", "c"))
	assert.Equal(t, []string{"/apis", "rbac.authorization.k8s.io", "v1", "clusterroles", "r"},
		objectPath(schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "clusterroles"}, "", "r"))
}

// TestDeletedNow checks which answers to a DELETE prove that the object is
// gone, and that nothing else does.
func TestDeletedNow(t *testing.T) {
	uid := types.UID("u-1")
	pre := &metav1.Preconditions{UID: &uid}
	for _, tc := range []struct {
		name string
		raw  string
		pre  *metav1.Preconditions
		want bool
	}{
		{"status success for the UID", `{"kind":"Status","status":"Success","details":{"name":"a","uid":"u-1"}}`, pre, true},
		{"status success for another UID", `{"kind":"Status","status":"Success","details":{"uid":"u-2"}}`, pre, false},
		{"status success without details", `{"kind":"Status","status":"Success"}`, pre, false},
		{"status failure", `{"kind":"Status","status":"Failure","details":{"uid":"u-1"}}`, pre, false},
		{"object as it was", `{"kind":"ConfigMap","metadata":{"uid":"u-1"}}`, pre, true},
		{"object waiting for finalizers", `{"kind":"ConfigMap","metadata":{"uid":"u-1","deletionTimestamp":"2026-01-01T00:00:00Z"}}`, pre, false},
		{"object of another UID", `{"kind":"ConfigMap","metadata":{"uid":"u-2"}}`, pre, false},
		{"no precondition", `{"kind":"Status","status":"Success","details":{"uid":"u-9"}}`, nil, true},
		{"not JSON", `<html>`, pre, false},
		{"empty", ``, pre, false},
		{"neither status nor object", `{"kind":"List"}`, pre, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, deletedNow([]byte(tc.raw), tc.pre))
		})
	}
}

// TestDeletionsTrackOnlyTheDeletedUID checks that a Deleted event counts as
// proof only for the UID rgd deleted, once, and not after a new write.
func TestDeletionsTrackOnlyTheDeletedUID(t *testing.T) {
	var d deletions
	k := writtenKey{gvr: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, namespace: "ns", name: "a"}

	assert.False(t, d.takeSeen(k), "nothing deleted yet")
	d.expect(k, "u-1")
	d.observe(k, "u-other")
	assert.False(t, d.takeSeen(k), "another object's event is no proof")
	d.observe(k, "u-1")
	assert.True(t, d.takeSeen(k))
	assert.False(t, d.takeSeen(k), "a proof is used once")

	d.expect(k, "u-2")
	d.observe(k, "u-2")
	d.settle(k) // for example: a new object was written under the name
	assert.False(t, d.takeSeen(k))
	assert.Zero(t, d.pending())
}

// TestDeleteObjectReadsTheAPIServersAnswer deletes real objects and checks
// that an immediate deletion is proven by the answer, and that a deletion
// waiting for a finalizer is not, namespaced and cluster-scoped.
func TestDeleteObjectReadsTheAPIServersAnswer(t *testing.T) {
	ns := devclustertest.Namespace(t)
	ctx := context.Background()
	r, cs := clusterReconciler(t)

	remove := func(gvr schema.GroupVersionResource, namespace, name string, uid types.UID) (bool, error) {
		return deleteObject(ctx, r.engineActor(), gvr, namespace, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	}

	// The precondition is sent: an object replaced under the same name is
	// not deleted.
	replaced, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "replaced"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = remove(configMaps, ns, "replaced", "uid-of-an-older-object")
	assert.True(t, apierrors.IsConflict(err), "a UID precondition that does not hold is a conflict, got %v", err)
	_, err = cs.CoreV1().ConfigMaps(ns).Get(ctx, replaced.Name, metav1.GetOptions{})
	require.NoError(t, err, "the replacing object is still there")

	plain, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "plain"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	gone, err := remove(configMaps, ns, "plain", plain.UID)
	require.NoError(t, err)
	assert.True(t, gone, "a ConfigMap without finalizers is deleted at once")

	held, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: "held", Finalizers: []string{"example.com/hold"}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	gone, err = remove(configMaps, ns, "held", held.UID)
	require.NoError(t, err)
	assert.False(t, gone, "a ConfigMap with a finalizer is not gone")
	still, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "held", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotNil(t, still.DeletionTimestamp)
	still.Finalizers = nil
	_, err = cs.CoreV1().ConfigMaps(ns).Update(ctx, still, metav1.UpdateOptions{})
	require.NoError(t, err)

	role, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{GenerateName: "rgd-delete-test-"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	gone, err = remove(rbacv1.SchemeGroupVersion.WithResource("clusterroles"), "", role.Name, role.UID)
	require.NoError(t, err)
	assert.True(t, gone, "a cluster-scoped object of a named group is deleted at once")

	// A namespace waits for its own finalizer: the answer is the object,
	// terminating.
	nsObj, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "rgd-delete-test-"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	gone, err = remove(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, "", nsObj.Name, nsObj.UID)
	require.NoError(t, err)
	assert.False(t, gone, "a namespace is not gone while it terminates")

	_, err = remove(configMaps, ns, "missing", "u-none")
	assert.Error(t, err, "deleting a missing object is an error the caller reads")
}
