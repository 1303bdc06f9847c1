package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func TestStripManagedFields(t *testing.T) {
	fields := []metav1.ManagedFieldsEntry{{Manager: "rgd", Operation: metav1.ManagedFieldsOperationApply}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", ManagedFields: fields}}
	out, err := stripManagedFields(cm)
	require.NoError(t, err)
	assert.Empty(t, out.(*corev1.ConfigMap).ManagedFields)

	inst := benchInstance("a", "ACTIVE")
	inst.SetManagedFields(fields)
	out, err = stripManagedFields(inst)
	require.NoError(t, err)
	assert.NotContains(t, inst.Object["metadata"], "managedFields")
	assert.Same(t, inst, out)

	tomb := cache.DeletedFinalStateUnknown{Key: "bench-0/a"}
	out, err = stripManagedFields(tomb)
	require.NoError(t, err)
	assert.Equal(t, tomb, out, "what is not an object passes as it is")
}

func TestCheckPause(t *testing.T) {
	assert.Equal(t, 18*time.Millisecond, checkPause(2*time.Millisecond), "checking takes at most a tenth of the time")
	assert.Zero(t, checkPause(0))
}
