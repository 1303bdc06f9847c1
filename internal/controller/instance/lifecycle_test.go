package instance

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/rgd-dev/rgd/internal/inventory"
	"github.com/rgd-dev/rgd/internal/watch"
	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
	"github.com/rgd-dev/rgd/pkg/graph"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

// managedEntry is a managedFields entry of manager owning fieldsV1.
func managedEntry(manager, fieldsV1 string) metav1.ManagedFieldsEntry {
	return metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationApply, FieldsType: "FieldsV1",
		FieldsV1: &metav1.FieldsV1{Raw: []byte(fieldsV1)}}
}

// TestWrittenByOthers covers whose writes take an external field from rgd:
// any manager but rgd's own that owns the field, a field below it, or an
// atomic field above it.
func TestWrittenByOthers(t *testing.T) {
	replicas := []string{"spec", "replicas"}
	for _, tc := range []struct {
		name    string
		managed []metav1.ManagedFieldsEntry
		path    []string
		want    bool
	}{
		{"nobody", nil, replicas, false},
		{"rgd alone", []metav1.ManagedFieldsEntry{managedEntry(metadata.FieldManagerChildren, `{"f:spec":{"f:replicas":{}}}`)}, replicas, false},
		{"an autoscaler", []metav1.ManagedFieldsEntry{
			managedEntry(metadata.FieldManagerChildren, `{"f:spec":{"f:paused":{}}}`),
			managedEntry("hpa", `{"f:spec":{"f:replicas":{}}}`),
		}, replicas, true},
		{"another field of the same object", []metav1.ManagedFieldsEntry{managedEntry("kubectl", `{"f:spec":{"f:paused":{}}}`)}, replicas, false},
		{"a field below the path", []metav1.ManagedFieldsEntry{
			managedEntry("injector", `{"f:spec":{"f:template":{"f:metadata":{"f:annotations":{".":{},"f:injected":{}}}}}}`),
		}, []string{"spec", "template", "metadata", "annotations"}, true},
		{"an atomic field above the path", []metav1.ManagedFieldsEntry{managedEntry("other", `{"f:spec":{"f:selector":{}}}`)},
			[]string{"spec", "selector", "matchLabels"}, true},
		{"an empty set owns nothing", []metav1.ManagedFieldsEntry{managedEntry("other", `{}`)}, replicas, false},
		{"an unreadable set owns nothing", []metav1.ManagedFieldsEntry{managedEntry("other", `{`)}, replicas, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, writtenByOthers(tc.managed, tc.path))
		})
	}
}

// TestLeaveExternalFields checks that an external field leaves the desired
// child only once another manager wrote it on this instance's live child,
// and that the other fields stay.
func TestLeaveExternalFields(t *testing.T) {
	res := &graph.Resource{ID: "deployment", ExternalFields: [][]string{{"spec", "replicas"}, {"spec", "paused"}}}
	desired := func() *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment", "metadata": map[string]any{"name": "web"},
			"spec": map[string]any{"replicas": int64(2), "paused": false, "minReadySeconds": int64(5)},
		}}
	}
	live := func(instance string, managed ...metav1.ManagedFieldsEntry) *unstructured.Unstructured {
		u := desired()
		u.SetLabels(map[string]string{metadata.LabelInstanceID: instance})
		u.SetManagedFields(managed)
		return u
	}
	scaled := managedEntry("hpa", `{"f:spec":{"f:replicas":{}}}`)

	d := desired()
	leaveExternalFields(res, d, nil, "u-1")
	assert.Equal(t, desired().Object, d.Object, "a child not created yet gets every field")

	d = desired()
	leaveExternalFields(res, d, live("u-1", managedEntry(metadata.FieldManagerChildren, `{"f:spec":{"f:replicas":{},"f:paused":{}}}`)), "u-1")
	assert.Equal(t, desired().Object, d.Object, "rgd applies what only it wrote")

	d = desired()
	leaveExternalFields(res, d, live("u-1", scaled), "u-1")
	assert.Equal(t, map[string]any{"paused": false, "minReadySeconds": int64(5)}, d.Object["spec"], "the scaled replicas are left to the autoscaler")

	d = desired()
	leaveExternalFields(res, d, live("u-other", scaled), "u-1")
	assert.Equal(t, desired().Object, d.Object, "another instance's object decides nothing")
}

// TestDecoratedKeysAreReleased checks that every label and annotation rgd
// stamps on a child is one that releasing the child strips, so that the
// list in pkg/metadata cannot fall behind decorate, and that the deletion
// policy is recorded under kro's key for its spelling.
func TestDecoratedKeysAreReleased(t *testing.T) {
	for _, tc := range []struct {
		policy  v1alpha1.DeletionPolicy
		wantKey string
	}{
		{"", ""},
		{v1alpha1.DeletionPolicyDelete, ""},
		{v1alpha1.DeletionPolicyOrphaned, metadata.AnnotationDeletionPolicy},
		{v1alpha1.DeletionPolicyDetach, metadata.AnnotationDeletionPolicyDetach},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			res := &graph.Resource{ID: "items", DeletionPolicy: tc.policy, ForEach: []*graph.Dimension{{Name: "item"}}}
			g := &graph.Graph{Instance: &graph.Instance{}, Resources: []*graph.Resource{res}}
			p := &pass{
				r: &Reconciler{}, g: g, st: &kindState{layout: newLayout(g)},
				inst: &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "a", "namespace": "team", "uid": "u-1"}}},
			}
			child := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{
				"name": "a-0", "labels": map[string]any{"team": "x"}, "annotations": map[string]any{"note": "y"},
			}}}
			p.decorate(res, child, 0, 1)
			for k := range child.GetLabels() {
				assert.Equal(t, k != "team", metadata.IsChildKey(k), "label %s", k)
			}
			var policyKeys []string
			for k, v := range child.GetAnnotations() {
				assert.Equal(t, k != "note", metadata.IsChildKey(k), "annotation %s", k)
				if strings.HasSuffix(k, "deletion-policy") {
					policyKeys = append(policyKeys, k+"="+v)
				}
			}
			if tc.wantKey == "" {
				assert.Empty(t, policyKeys, "Delete, the default, is recorded by the annotation's absence")
			} else {
				assert.Equal(t, []string{tc.wantKey + "=" + string(tc.policy)}, policyKeys)
			}
			assert.Equal(t, res.Orphans(), p.st.layout.entry(res, child).Orphan, "the inventory entry records the policy")
		})
	}
}

// TestGraphWatchesKeepManagedFieldsForExternalFields checks that only the
// children's informers of kinds with external fields keep managedFields.
func TestGraphWatchesKeepManagedFieldsForExternalFields(t *testing.T) {
	deployments := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	g := &graph.Graph{Resources: []*graph.Resource{
		{ID: "config", GVR: configMaps, Template: map[string]any{"data": map[string]any{"a": "b"}}},
		{ID: "deployment", GVR: deployments, ExternalFields: [][]string{{"spec", "replicas"}},
			Template: map[string]any{"spec": map[string]any{"replicas": int64(1)}}},
	}}
	w := graphWatches(g)
	assert.Contains(t, w[childKey(deployments)], watch.ManagedFields())
	assert.NotContains(t, w[childKey(configMaps)], watch.ManagedFields())
	assert.Contains(t, w, foreignKey(configMaps))
	assert.Contains(t, w, foreignKey(deployments))
}

// TestOrphanedChildIsReleasedNotDeleted removes a real child whose entry
// says to leave it in place: it stays, without rgd's labels and
// annotations, and a later removal with a deleting entry (a restart that
// read an older inventory, say) no longer touches it.
func TestOrphanedChildIsReleasedNotDeleted(t *testing.T) {
	ns := devclustertest.Namespace(t)
	ctx := context.Background()
	client, err := RESTClientFor(devclustertest.Config())
	require.NoError(t, err)
	dyn := dynamic.New(client)
	wm := watch.NewManager(dyn, watch.Options{})
	t.Cleanup(wm.Stop)
	r := New(dyn, wm, Options{Client: client})
	_, cs := clusterReconciler(t)

	inst := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "a", "namespace": ns, "uid": "u-inst"}}}
	_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "kept",
			Labels: map[string]string{metadata.LabelOwned: "true", metadata.LabelInstanceID: "u-inst", metadata.LabelNodeID: "kept",
				metadata.LabelManagedBy: metadata.ManagedByValue, metadata.LabelApplySetPartOf: "u-inst", "team": "x"},
			Annotations: map[string]string{metadata.AnnotationApplyOrder: "1", metadata.AnnotationDeletionPolicy: "Orphaned",
				metadata.AnnotationDesiredHash: "h", "note": "y"}},
		Data: map[string]string{"k": "v"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	e := inventory.Entry{APIVersion: "v1", Kind: "ConfigMap", Resource: "configmaps", Namespace: ns, Name: "kept", Node: "kept", Wave: 1, Orphan: true}
	gone, issued, err := r.deleteChild(ctx, inst, e)
	require.NoError(t, err)
	assert.True(t, gone, "a released child leaves the inventory")
	assert.True(t, issued)
	kept, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "kept", metav1.GetOptions{})
	require.NoError(t, err, "an orphaned child is not deleted")
	assert.Equal(t, map[string]string{"team": "x"}, kept.Labels, "only the template's labels are left")
	assert.Equal(t, map[string]string{"note": "y"}, kept.Annotations, "only the template's annotations are left")
	assert.Equal(t, map[string]string{"k": "v"}, kept.Data, "the object itself is left as it was")

	e.Orphan = false
	gone, issued, err = r.deleteChild(ctx, inst, e)
	require.NoError(t, err)
	assert.True(t, gone)
	assert.False(t, issued, "a released child is nobody's to delete")
	_, err = cs.CoreV1().ConfigMaps(ns).Get(ctx, "kept", metav1.GetOptions{})
	require.NoError(t, err, "and it is still there")
}

// TestStampDesiredHashMatchesDecorate checks that a child whose field is
// left after decorate gets the fingerprint decorate would have given it
// without that field, so the next pass finds it up to date.
func TestStampDesiredHashMatchesDecorate(t *testing.T) {
	res := &graph.Resource{ID: "config"}
	g := &graph.Graph{Instance: &graph.Instance{}, Resources: []*graph.Resource{res}}
	p := &pass{r: &Reconciler{}, g: g, st: &kindState{layout: newLayout(g)},
		inst: &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "a", "uid": "u-1"}}}}
	child := func() *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "a"},
			"data": map[string]any{"k": "1", "other": "x"}}}
	}
	late := child()
	p.decorate(res, late, 0, 1)
	unstructured.RemoveNestedField(late.Object, "data", "k")
	stampDesiredHash(late)
	early := child()
	unstructured.RemoveNestedField(early.Object, "data", "k")
	p.decorate(res, early, 0, 1)
	assert.Equal(t, early.Object, late.Object)
}

// TestApplyOwnedLeavesAFieldWrittenMeanwhile applies a desired child that
// still holds an external field another manager wrote after rgd's view of
// the child was read: the API server's conflict makes rgd leave the field
// to that manager instead of taking it back.
func TestApplyOwnedLeavesAFieldWrittenMeanwhile(t *testing.T) {
	ns := devclustertest.Namespace(t)
	ctx := context.Background()
	r, _ := clusterReconciler(t)
	res := &graph.Resource{ID: "config", GVR: configMaps, ExternalFields: [][]string{{"data", "size"}}}
	g := &graph.Graph{Instance: &graph.Instance{}, Resources: []*graph.Resource{res}}
	p := &pass{r: r, g: g, st: &kindState{layout: newLayout(g)},
		inst: &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "a", "namespace": ns, "uid": "u-inst"}}}}
	desired := func(size string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "scaled", "namespace": ns}, "data": map[string]any{"size": size, "color": "blue"}}}
		p.decorate(res, u, 0, 1)
		return u
	}
	client := r.dyn.Resource(configMaps).Namespace(ns)
	_, err := client.Apply(ctx, "scaled", desired("1"), metav1.ApplyOptions{FieldManager: metadata.FieldManagerChildren})
	require.NoError(t, err)
	other := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "scaled", "namespace": ns}, "data": map[string]any{"size": "5"}}}
	_, err = client.Apply(ctx, "scaled", other, metav1.ApplyOptions{FieldManager: "autoscaler", Force: true})
	require.NoError(t, err)

	// rgd's (stale) view still holds the size: it asks for a new color.
	a := &action{node: res, obj: desired("1")}
	require.NoError(t, unstructured.SetNestedField(a.obj.Object, "green", "data", "color"))
	stampDesiredHash(a.obj)
	out, err := p.applyOwned(ctx, client, a)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"size": "5", "color": "green"}, out.Object["data"], "the size stays the autoscaler's, the color is rgd's")
	_, held, _ := unstructured.NestedString(a.obj.Object, "data", "size")
	assert.False(t, held, "the desired child no longer holds the size")
	assert.Equal(t, desiredHash(a.obj), out.GetAnnotations()[metadata.AnnotationDesiredHash], "and its fingerprint says so")
}
