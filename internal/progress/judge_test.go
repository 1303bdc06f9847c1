package progress

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/rgd-dev/rgd/internal/inventory"
	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/manifest"
	"github.com/rgd-dev/rgd/pkg/metadata"
	"github.com/rgd-dev/rgd/pkg/schemas"
)

var (
	turnstileGVK = schema.GroupVersionKind{Group: "kro.run", Version: "v1alpha1", Kind: "Turnstile"}
	turnstileGVR = turnstileGVK.GroupVersion().WithResource("turnstiles")
)

// transitioned is when the conditions of the test instances last changed.
var transitioned = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// turnstileRGD is testdata/turnstile-rgd.yaml, plus, when more is true, a
// resource that reads the excluded "extra" and two external references:
// one that exists, one that does not.
func turnstileRGD(t *testing.T, more bool) *unstructured.Unstructured {
	t.Helper()
	docs, err := manifest.ReadFile(filepath.Join("testdata", "turnstile-rgd.yaml"))
	require.NoError(t, err)
	u := docs[0].Object.DeepCopy()
	if !more {
		return u
	}
	resources, _, _ := unstructured.NestedSlice(u.Object, "spec", "resources")
	resources = append(resources,
		map[string]any{"id": "extraChild", "template": map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "${extra.metadata.name}-child"}}},
		map[string]any{"id": "settings", "externalRef": map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "settings"}}},
		map[string]any{"id": "missing", "externalRef": map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "missing", "namespace": "elsewhere"}}},
	)
	require.NoError(t, unstructured.SetNestedSlice(u.Object, resources, "spec", "resources"))
	return u
}

// configMap is a child ConfigMap of the instance uid-1 (or of none).
func configMap(namespace, name, instanceUID string, data map[string]any) *unstructured.Unstructured {
	u := child("v1", "ConfigMap", namespace, name, instanceUID)
	if instanceUID == "" {
		u.SetLabels(nil)
	}
	if data != nil {
		u.Object["data"] = data
	}
	return u
}

// turnstile is an instance t1 of Turnstile in default whose inventory
// records first and gate, with the status the engine wrote.
func turnstile(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	inv := inventory.Inventory{
		{APIVersion: "v1", Kind: "ConfigMap", Resource: "configmaps", Namespace: "default", Name: "t1-first", Node: "first"},
		{APIVersion: "v1", Kind: "ConfigMap", Resource: "configmaps", Namespace: "default", Name: "t1-gate", Node: "gate"},
	}
	at := transitioned.Format(time.RFC3339)
	cond := func(typ, status, reason, message string) map[string]any {
		return map[string]any{"type": typ, "status": status, "reason": reason, "message": message, "lastTransitionTime": at}
	}
	return object(map[string]any{
		"apiVersion": "kro.run/v1alpha1", "kind": "Turnstile",
		"metadata": map[string]any{"name": "t1", "namespace": "default", "uid": "uid-1",
			"labels":      map[string]any{metadata.LabelRGDName: "turnstile"},
			"annotations": map[string]any{metadata.AnnotationInventory: inv.Encode()}},
		"spec": map[string]any{"gate": "closed", "extra": false},
		"status": map[string]any{
			"state": "IN_PROGRESS",
			"conditions": []any{
				cond("InstanceManaged", "True", "Managed", "instance is properly managed with finalizers and labels"),
				cond("GraphResolved", "True", "Resolved", "runtime graph created and all resources resolved"),
				cond("ResourcesReady", "False", "NotReady", "awaiting resource readiness: gate (not ready: ${gate.data.state == \"open\"} is false); after (waiting for gate)"),
				cond("Ready", "False", "NotReady", "awaiting resource readiness: gate (not ready: ${gate.data.state == \"open\"} is false); after (waiting for gate)"),
			},
		},
	})
}

// turnstileCluster is a fake cluster holding the turnstile RGD, the
// instance t1, its children and one more ConfigMap, and a Reader of it
// that judges with the built-in schemas.
func turnstileCluster(t *testing.T, more bool, extra ...runtime.Object) *Reader {
	t.Helper()
	objects := append([]runtime.Object{
		turnstileRGD(t, more), turnstile(t),
		configMap("default", "t1-first", "uid-1", map[string]any{"role": "first"}),
		configMap("default", "t1-gate", "uid-1", map[string]any{"state": "closed", "first": "t1-first"}),
		configMap("default", "settings", "", nil),
	}, extra...)
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		v1alpha1.ResourceGraphDefinitionResource: "ResourceGraphDefinitionList",
		turnstileGVR:                             "TurnstileList",
		configMapGVR:                             "ConfigMapList",
	}, objects...)
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(turnstileGVK, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	mapper.Add(v1alpha1.SchemeGroupVersion.WithKind("ResourceGraphDefinition"), meta.RESTScopeRoot)
	return NewReader(dyn, resettable{mapper}).WithSchemas(schemas.Builtin())
}

func TestJudgeDecidesEachResourceAsTheEngine(t *testing.T) {
	r := turnstileCluster(t, true)
	in, err := r.InstanceStatus(context.Background(), Target{Resource: turnstileGVR, Kind: "Turnstile", Namespace: "default", Name: "t1"})
	require.NoError(t, err)
	require.True(t, in.Judged, in.GraphError)
	assert.Equal(t, "turnstile", in.RGD)
	byID := map[string]Resource{}
	var order []string
	for _, res := range in.Resources {
		byID[res.ID] = res
		order = append(order, res.ID)
	}
	assert.Less(t, indexOf(order, "first"), indexOf(order, "gate"), "topological order")
	assert.Less(t, indexOf(order, "gate"), indexOf(order, "after"), "topological order")

	assert.Equal(t, Resource{ID: "first", APIVersion: "v1", Kind: "ConfigMap", Name: "default/t1-first",
		Objects: []ObjectRef{{"default", "t1-first"}}, State: ResourceCreated, Ready: true}, byID["first"])
	assert.Equal(t, Resource{ID: "gate", APIVersion: "v1", Kind: "ConfigMap", Name: "default/t1-gate",
		Objects: []ObjectRef{{"default", "t1-gate"}}, State: ResourceCreated, DependsOn: []string{"first"},
		Blocked: &Blocker{Reason: BlockedByReadyWhen, Expression: `gate.data.state == "open"`, Message: `readyWhen ${gate.data.state == "open"} is false`}},
		byID["gate"])
	assert.Equal(t, Resource{ID: "after", APIVersion: "v1", Kind: "ConfigMap", State: ResourceWaiting, DependsOn: []string{"gate"},
		Blocked: &Blocker{Reason: BlockedByDependency, Dependencies: []string{"gate"}, Message: "waiting on gate"}},
		byID["after"], "its name reads gate: not rendered while gate is not ready")
	assert.Equal(t, Resource{ID: "extra", APIVersion: "v1", Kind: "ConfigMap", State: ResourceExcluded,
		Blocked: &Blocker{Reason: Excluded, Expression: "schema.spec.extra", Message: "excluded: includeWhen ${schema.spec.extra} is false"}},
		byID["extra"])
	assert.Equal(t, Resource{ID: "extraChild", APIVersion: "v1", Kind: "ConfigMap", State: ResourceExcluded, DependsOn: []string{"extra"},
		Blocked: &Blocker{Reason: Excluded, Dependencies: []string{"extra"}, Message: "excluded: extra is excluded"}},
		byID["extraChild"])
	assert.Equal(t, Resource{ID: "settings", APIVersion: "v1", Kind: "ConfigMap", Name: "default/settings",
		Objects: []ObjectRef{{"default", "settings"}}, State: ResourceFound, Ready: true}, byID["settings"],
		"an external reference without namespace is looked for in the instance's")
	assert.Equal(t, Resource{ID: "missing", APIVersion: "v1", Kind: "ConfigMap", Name: "elsewhere/missing",
		Objects: []ObjectRef{{"elsewhere", "missing"}}, State: ResourceExternal,
		Blocked: &Blocker{Reason: BlockedByNotFound, Message: "waiting for the external ConfigMap elsewhere/missing to exist"}},
		byID["missing"])
}

func TestJudgeOpenGate(t *testing.T) {
	// The gate is open, "after" is not created yet: it waits on its creation.
	r := turnstileCluster(t, false)
	cm := configMap("default", "t1-gate", "uid-1", map[string]any{"state": "open", "first": "t1-first"})
	_, err := r.dyn.Resource(configMapGVR).Namespace("default").Update(context.Background(), cm, metav1.UpdateOptions{})
	require.NoError(t, err)
	in, err := r.InstanceStatus(context.Background(), Target{Resource: turnstileGVR, Kind: "Turnstile", Namespace: "default", Name: "t1"})
	require.NoError(t, err)
	require.Len(t, in.Resources, 4)
	assert.True(t, in.Resources[1].Ready, "gate")
	assert.Equal(t, Resource{ID: "after", APIVersion: "v1", Kind: "ConfigMap", Name: "default/t1-after",
		Objects: []ObjectRef{{"default", "t1-after"}}, State: ResourceWaiting, DependsOn: []string{"gate"},
		Blocked: &Blocker{Reason: BlockedByCreation, Message: "not created yet"}}, in.Resources[2],
		"rendered: its name is known before it exists")
}

func TestJudgeFallsBackWithoutAGraph(t *testing.T) {
	// The RGD reads a kind no schema resolves: the resources come from the
	// spec, unjudged, and the instance says why.
	rgd := turnstileRGD(t, false)
	resources, _, _ := unstructured.NestedSlice(rgd.Object, "spec", "resources")
	resources = append(resources, map[string]any{"id": "odd", "template": map[string]any{"apiVersion": "odd.example.com/v1", "kind": "Odd",
		"metadata": map[string]any{"name": "odd"}}})
	require.NoError(t, unstructured.SetNestedSlice(rgd.Object, resources, "spec", "resources"))
	r := turnstileCluster(t, false)
	_, err := r.dyn.Resource(v1alpha1.ResourceGraphDefinitionResource).Update(context.Background(), rgd, metav1.UpdateOptions{})
	require.NoError(t, err)
	in, err := r.InstanceStatus(context.Background(), Target{Resource: turnstileGVR, Kind: "Turnstile", Namespace: "default", Name: "t1"})
	require.NoError(t, err)
	assert.False(t, in.Judged)
	assert.Contains(t, in.GraphError, "Odd")
	require.Len(t, in.Resources, 5)
	assert.Equal(t, ResourceCreated, in.Resources[0].State)
	assert.Nil(t, in.Resources[1].Blocked)
}

func TestInstanceStatusNotFound(t *testing.T) {
	r := turnstileCluster(t, false)
	_, err := r.InstanceStatus(context.Background(), Target{Resource: turnstileGVR, Kind: "Turnstile", Namespace: "default", Name: "nope"})
	var nf *NotFoundError
	require.ErrorAs(t, err, &nf)
	assert.Equal(t, "Turnstile default/nope", nf.What)
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}
