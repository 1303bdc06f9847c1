package instance

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/rgd-dev/rgd/internal/inventory"
	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
	"github.com/rgd-dev/rgd/pkg/graph"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

// TestCreateOfAnObjectThatAppearedIsUndone plays the race the caches cannot
// see: rgd creates a child whose name someone else took a moment before.
// When none of rgd's fields conflicts, the API server merges them into the
// other object; rgd must notice (200, not 201), take its fields back out
// and refuse the object, leaving it as its owner made it. When one
// conflicts, the API server refuses the write and rgd refuses the object.
func TestCreateOfAnObjectThatAppearedIsUndone(t *testing.T) {
	ns := devclustertest.Namespace(t)
	ctx := context.Background()
	r, cs := clusterReconciler(t)

	newPass := func(adopt bool) *pass {
		return &pass{
			r: r, st: &kindState{kind: Kind{AdoptExisting: adopt}}, key: Key{Namespace: ns, Name: "inst"}, actor: r.engineActor(),
			inst: &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "inst", "namespace": ns, "uid": "uid-inst"}}},
		}
	}
	desired := func(name string) *action {
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]any{metadata.LabelOwned: "true", metadata.LabelInstanceID: "uid-inst"}},
			"data":     map[string]any{"value": "from-rgd"},
		}}
		return &action{
			node: &graph.Resource{ID: "config", GVR: configMaps}, obj: obj, create: true,
			entry: inventory.Entry{APIVersion: "v1", Kind: "ConfigMap", Resource: "configmaps", Namespace: ns, Name: name, Node: "config"},
		}
	}

	// A name nobody has: created.
	fresh := desired("fresh")
	newPass(false).write(ctx, fresh)
	require.NoError(t, fresh.err)
	require.NotNil(t, fresh.result)
	assert.Equal(t, "from-rgd", fresh.result.Object["data"].(map[string]any)["value"])

	// Someone else's object, no field in common: refused, and left as it was.
	theirs, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "taken", Labels: map[string]string{"team": "a"}},
		Data:       map[string]string{"mine": "yes"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	taken := desired("taken")
	newPass(false).write(ctx, taken)
	require.Error(t, taken.err)
	assert.Contains(t, taken.err.Error(), "was not created by rgd")
	assert.Nil(t, taken.result)
	after, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "taken", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, theirs.Labels, after.Labels, "rgd's labels are taken back out")
	assert.Equal(t, theirs.Data, after.Data, "rgd's data is taken back out")
	assert.Equal(t, theirs.UID, after.UID)
	for _, m := range after.ManagedFields {
		assert.NotEqual(t, metadata.FieldManagerChildren, m.Manager, "rgd owns no field of it")
	}

	// Someone else's object with a field rgd sets to another value: the API
	// server refuses the write (a conflict); rgd reads it and refuses it.
	_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "conflicting"}, Data: map[string]string{"value": "theirs"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	conflicting := desired("conflicting")
	newPass(false).write(ctx, conflicting)
	require.Error(t, conflicting.err)
	assert.Contains(t, conflicting.err.Error(), "was not created by rgd")
	after, err = cs.CoreV1().ConfigMaps(ns).Get(ctx, "conflicting", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"value": "theirs"}, after.Data)
	assert.Empty(t, after.Labels)

	// The same race when the RGD allows taking objects over: taken over.
	_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "adoptable"}, Data: map[string]string{"mine": "yes"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	adoptable := desired("adoptable")
	newPass(true).write(ctx, adoptable)
	require.NoError(t, adoptable.err)
	assert.True(t, adoptable.adopt)
	require.NotNil(t, adoptable.result)
	assert.Equal(t, "uid-inst", adoptable.result.GetLabels()[metadata.LabelInstanceID])
}
