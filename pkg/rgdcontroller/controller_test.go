package rgdcontroller

import (
	"testing"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

// The controller is exercised end to end by pkg/engine's integration tests;
// these cover its pure decisions.

func TestSpecOrMetaChanged(t *testing.T) {
	base := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "x", "generation": int64(1)}}}
	same := base.DeepCopy()
	same.Object["status"] = map[string]any{"state": "Active"}
	assert.False(t, specOrMetaChanged(base, same), "a status-only update does not trigger a reconcile")

	gen := base.DeepCopy()
	gen.SetGeneration(2)
	assert.True(t, specOrMetaChanged(base, gen))

	allow := base.DeepCopy()
	allow.SetAnnotations(map[string]string{metadata.AnnotationAllowBreakingChanges: "true"})
	assert.True(t, specOrMetaChanged(base, allow), "flipping allow-breaking-changes triggers a reconcile")

	deleting := base.DeepCopy()
	now := metav1.Now()
	deleting.SetDeletionTimestamp(&now)
	assert.True(t, specOrMetaChanged(base, deleting))
}

func TestEqualStatusIgnoresTransitionTimes(t *testing.T) {
	reason := "Valid"
	t1, t2 := metav1.Now(), metav1.NewTime(metav1.Now().Add(3600e9))
	a := &v1alpha1.ResourceGraphDefinitionStatus{State: v1alpha1.StateActive, Conditions: []v1alpha1.Condition{{Type: "Ready", Status: "True", Reason: &reason, LastTransitionTime: &t1}}}
	b := a.DeepCopy()
	b.Conditions[0].LastTransitionTime = &t2
	assert.True(t, equalStatus(a, b))
	b.State = v1alpha1.StateInactive
	assert.False(t, equalStatus(a, b))
}

func TestJSONList(t *testing.T) {
	assert.Equal(t, `["a","b\"c"]`, jsonList([]string{"a", `b"c`}))
	assert.Equal(t, `[]`, jsonList(nil))
}
