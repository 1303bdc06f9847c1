package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"
)

func TestLatencyInstance(t *testing.T) {
	var got []int
	for j := range 7 {
		got = append(got, latencyInstance(j, 10000))
	}
	assert.Equal(t, []int{0, 2000, 4000, 6000, 8000, 0, 2000}, got, "five instances spread over the N, in turn")
	assert.Equal(t, []int{0, 1, 2, 0}, []int{latencyInstance(0, 3), latencyInstance(1, 3), latencyInstance(2, 3), latencyInstance(3, 3)})
	for j := range 30 {
		assert.Less(t, latencyInstance(j, 7), 7)
	}
}

func readyInstance(state string, observed int64, status string) *unstructured.Unstructured {
	u := benchInstance("n100-0", state)
	u.Object["metadata"].(map[string]any)["generation"] = int64(3)
	status0, _ := u.Object["status"].(map[string]any)
	if status0 == nil {
		return u
	}
	status0["conditions"] = []any{
		map[string]any{"type": "InstanceManaged", "status": "True", "observedGeneration": int64(1)},
		map[string]any{"type": "Ready", "status": status, "observedGeneration": observed},
	}
	return u
}

func TestActiveAt(t *testing.T) {
	assert.True(t, activeAt(readyInstance("ACTIVE", 3, "True"), 3))
	assert.True(t, activeAt(readyInstance("ACTIVE", 4, "True"), 3))
	assert.False(t, activeAt(readyInstance("ACTIVE", 2, "True"), 3), "Ready was written for an older generation")
	assert.False(t, activeAt(readyInstance("ACTIVE", 3, "False"), 3))
	assert.False(t, activeAt(readyInstance("IN_PROGRESS", 3, "True"), 3))
	assert.False(t, activeAt(readyInstance("", 3, "True"), 3))
	assert.False(t, activeAt(nil, 1))
}

func TestUpdatedCheck(t *testing.T) {
	w := &workload{instances: cache.NewStore(cache.MetaNamespaceKeyFunc), cms: cache.NewStore(cache.MetaNamespaceKeyFunc), deps: cache.NewStore(cache.MetaNamespaceKeyFunc)}
	check := w.updatedCheck("bench-0", "n100-0", 3, "latency-1")
	ok, state := check()
	assert.False(t, ok)
	assert.Equal(t, "ACTIVE at generation 3 false, ConfigMap false, Deployment false", state)

	require.NoError(t, w.instances.Add(readyInstance("ACTIVE", 3, "True")))
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: "bench-0"} }
	require.NoError(t, w.cms.Add(&corev1.ConfigMap{ObjectMeta: meta("n100-0-config"), Data: map[string]string{"value": "latency-1"}}))
	dep := &appsv1.Deployment{ObjectMeta: meta("n100-0")}
	dep.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app", Env: []corev1.EnvVar{{Name: "VALUE", Value: "latency-0"}}}}
	require.NoError(t, w.deps.Add(dep))
	ok, state = check()
	assert.False(t, ok)
	assert.Equal(t, "ACTIVE at generation 3 true, ConfigMap true, Deployment false", state)

	dep = dep.DeepCopy()
	dep.Spec.Template.Spec.Containers[0].Env[0].Value = "latency-1"
	require.NoError(t, w.deps.Update(dep))
	ok, _ = check()
	assert.True(t, ok)
}
