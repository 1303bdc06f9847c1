package watch

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
)

func TestFieldTreePrunes(t *testing.T) {
	tree := newFieldTree([][]string{
		{"spec", "template", "spec", "containers", "image"},
		{"spec", "template", "spec", "containers", "name"},
		{"status", "availableReplicas"},
		{"data"},
	})
	obj := map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "labels": map[string]any{"a": "b"}},
		"spec": map[string]any{
			"replicas": int64(1),
			"template": map[string]any{"spec": map[string]any{
				"dnsPolicy": "ClusterFirst",
				"containers": []any{
					map[string]any{"name": "web", "image": "nginx", "imagePullPolicy": "Always"},
					map[string]any{"name": "side", "image": "busybox", "terminationMessagePath": "/dev/x"},
				},
			}},
		},
		"status": map[string]any{"availableReplicas": int64(1), "conditions": []any{"x"}},
		"data":   map[string]any{"anything": map[string]any{"deep": "kept"}},
	}
	tree.prune(obj)
	assert.Equal(t, map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "labels": map[string]any{"a": "b"}},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers": []any{
				map[string]any{"name": "web", "image": "nginx"},
				map[string]any{"name": "side", "image": "busybox"},
			},
		}}},
		"status": map[string]any{"availableReplicas": int64(1)},
		"data":   map[string]any{"anything": map[string]any{"deep": "kept"}},
	}, obj)

	var everything *fieldTree
	before := map[string]any{"x": "y"}
	everything.prune(before)
	assert.Equal(t, map[string]any{"x": "y"}, before, "a nil tree keeps everything")
}

func TestFieldTreeUnionAndCovers(t *testing.T) {
	a := newFieldTree([][]string{{"spec", "a"}})
	b := newFieldTree([][]string{{"spec", "b"}, {"status"}})
	u := union(a, b)
	assert.True(t, u.covers(a))
	assert.True(t, u.covers(b))
	assert.False(t, a.covers(b))
	assert.False(t, a.covers(u))
	assert.True(t, u.covers(newFieldTree([][]string{{"status", "deep", "field"}})), "status is kept whole")
	var all *fieldTree
	assert.True(t, all.covers(a))
	assert.False(t, a.covers(all), "a pruning tree does not cover everything")
	assert.Nil(t, union(a, nil))
	assert.True(t, newFieldTree([][]string{{"spec"}}).covers(newFieldTree([][]string{{"spec", "x"}})))
}

// TestWatchFieldsWidensTheCache checks that an informer keeps only what its
// owners use, and that an owner using more restarts it: the cache handed
// out earlier then holds the wider objects and both owners keep receiving
// events.
func TestWatchFieldsWidensTheCache(t *testing.T) {
	cs, dc := clients(t)
	ns := devclustertest.Namespace(t)
	ctx := context.Background()
	_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cm", Labels: map[string]string{"l": "v"}},
		Data:       map[string]string{"a": "1", "b": "2", "c": "3"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	m := NewManager(dc, Options{})
	defer m.Stop()
	key := Key{GVR: configMaps}
	recA, recB := &recorder{}, &recorder{}
	cacheA, err := m.WatchFields(ctx, "a", key, [][]string{{"data", "a"}}, recA.handle)
	require.NoError(t, err)
	data := func(c Cache) map[string]any {
		got, ok := c.Get(ns, "cm")
		require.True(t, ok)
		assert.Equal(t, "cm", got.GetName(), "metadata is always kept")
		assert.Equal(t, map[string]string{"l": "v"}, got.GetLabels())
		d, _, _ := unstructured.NestedMap(got.Object, "data")
		return d
	}
	assert.Equal(t, map[string]any{"a": "1"}, data(cacheA))

	// A second owner using a field the informer drops: it is restarted.
	first := doneOf(t, m, key)
	cacheB, err := m.WatchFields(ctx, "b", key, [][]string{{"data", "b"}}, recB.handle)
	require.NoError(t, err)
	requireStopped(t, first)
	assert.Equal(t, map[string]any{"a": "1", "b": "2"}, data(cacheA), "the first owner's cache reads the new informer")
	assert.Equal(t, map[string]any{"a": "1", "b": "2"}, data(cacheB))

	// An owner within what is kept does not restart it.
	second := doneOf(t, m, key)
	_, err = m.WatchFields(ctx, "c", key, [][]string{{"data", "a"}}, func(Event) {})
	require.NoError(t, err)
	assert.Equal(t, second, doneOf(t, m, key))

	// Both owners receive the events of the new informer.
	_, err = cs.CoreV1().ConfigMaps(ns).Update(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cm", Labels: map[string]string{"l": "v"}},
		Data:       map[string]string{"a": "changed", "b": "2", "c": "3"},
	}, metav1.UpdateOptions{})
	require.NoError(t, err)
	for _, rec := range []*recorder{recA, recB} {
		require.Eventually(t, func() bool { return len(rec.of(Updated, ns, "cm")) > 0 }, wait, tick)
	}
	require.Eventually(t, func() bool { return data(cacheA)["a"] == "changed" }, wait, tick)

	// An owner that uses everything: the objects are kept whole.
	_, err = m.Watch(ctx, "d", key, func(Event) {})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"a": "changed", "b": "2", "c": "3"}, data(cacheA))
}
