package rgd

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"

	"github.com/rgd-dev/rgd/internal/reconcile"
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

// listCache is a watch.Cache over a fixed list; List honours the selector.
type listCache []*unstructured.Unstructured

func (c listCache) Get(string, string) (*unstructured.Unstructured, bool) { return nil, false }
func (c listCache) List(_ string, sel labels.Selector) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range c {
		if sel == nil || sel.Matches(labels.Set(u.GetLabels())) {
			out = append(out, u)
		}
	}
	return out
}
func (c listCache) ByIndex(string, string) []*unstructured.Unstructured { return nil }
func (c listCache) Len() int                                            { return len(c) }
func (c listCache) Names() []types.NamespacedName {
	out := make([]types.NamespacedName, 0, len(c))
	for _, u := range c {
		out = append(out, types.NamespacedName{Namespace: u.GetNamespace(), Name: u.GetName()})
	}
	return out
}
func (c listCache) HasSynced() bool { return true }

// TestGeneratedKind checks how an RGD that does not compile finds the kind
// its instances have: the CRD that carries rgd's labels for that RGD, at its
// storage version; another RGD's CRD, or a CRD rgd does not own, is not it.
func TestGeneratedKind(t *testing.T) {
	crd := func(rgd string, owned bool, group, plural, kind string, versions ...map[string]any) *unstructured.Unstructured {
		l := map[string]any{metadata.LabelRGDName: rgd}
		if owned {
			l[metadata.LabelOwned] = "true"
		}
		vs := make([]any, len(versions))
		for i, v := range versions {
			vs[i] = v
		}
		return &unstructured.Unstructured{Object: map[string]any{
			"metadata": map[string]any{"name": plural + "." + group, "labels": l},
			"spec":     map[string]any{"group": group, "names": map[string]any{"plural": plural, "kind": kind}, "versions": vs},
		}}
	}
	v := func(name string, storage bool) map[string]any {
		return map[string]any{"name": name, "storage": storage}
	}
	c := &Controller{crds: listCache{
		crd("other", true, "kro.run", "others", "Other", v("v1alpha1", true)),
		crd("web", false, "example.com", "webs", "Web", v("v1", true)),
		crd("web", true, "kro.run", "webapps", "WebApp", v("v1alpha1", false), v("v1alpha2", true)),
	}}
	gvr, kind, ok := c.generatedKind("web")
	assert.True(t, ok)
	assert.Equal(t, schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha2", Resource: "webapps"}, gvr)
	assert.Equal(t, "WebApp", kind)

	_, _, ok = c.generatedKind("missing")
	assert.False(t, ok, "no CRD of that RGD")
	_, _, ok = (&Controller{}).generatedKind("web")
	assert.False(t, ok, "no CRD cache yet")
}

// oneCache is a watch.Cache holding one cluster-scoped object.
type oneCache struct{ obj *unstructured.Unstructured }

func (c oneCache) Get(_, name string) (*unstructured.Unstructured, bool) {
	return c.obj, name == c.obj.GetName()
}
func (c oneCache) List(string, labels.Selector) []*unstructured.Unstructured { return nil }
func (c oneCache) ByIndex(string, string) []*unstructured.Unstructured       { return nil }
func (c oneCache) Len() int                                                  { return 1 }
func (c oneCache) Names() []types.NamespacedName {
	return []types.NamespacedName{{Name: c.obj.GetName()}}
}
func (c oneCache) HasSynced() bool { return true }

// TestReportFailureSaysWhatComesNext checks the Warning event of a failed
// RGD reconcile: a failure that may heal is retried, a terminal one waits
// for the RGD to change, and the event says which.
func TestReportFailureSaysWhatComesNext(t *testing.T) {
	rgd := &unstructured.Unstructured{}
	rgd.SetAPIVersion("kro.run/v1alpha1")
	rgd.SetKind("ResourceGraphDefinition")
	rgd.SetName("web")
	rec := record.NewFakeRecorder(2)
	c := &Controller{cache: oneCache{obj: rgd}, opts: Options{Recorder: rec}}

	c.reportFailure("web", errors.New("the API server answered 500"))
	assert.Equal(t, "Warning ReconcileFailed the API server answered 500; retrying with backoff", <-rec.Events)
	c.reportFailure("web", reconcile.Terminal(errors.New("resource \"config\": invalid")))
	assert.Equal(t, "Warning ReconcileFailed resource \"config\": invalid; waiting for the ResourceGraphDefinition to change", <-rec.Events)
}

func TestSpecOrMetaChangedOnServiceAccount(t *testing.T) {
	base := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "x", "generation": int64(1)}}}
	named := base.DeepCopy()
	named.SetAnnotations(map[string]string{metadata.AnnotationServiceAccount: "writer"})
	assert.True(t, specOrMetaChanged(base, named), "setting the service-account annotation triggers a reconcile")
}
