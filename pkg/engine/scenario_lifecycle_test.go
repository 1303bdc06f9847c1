package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/rgd-dev/rgd/pkg/metadata"
)

// chainRGD is a three-level chain of ConfigMaps: first <- second <- third,
// each copying a value from the one before it.
const chainRGD = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: __RGD__
spec:
  schema:
    apiVersion: v1alpha1
    kind: __KIND__
    spec:
      message: string | default=hello
    status:
      third: ${third.data.value}
  resources:
  - id: third
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-third
      data:
        value: ${second.data.value + "-3"}
  - id: first
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-first
      data:
        value: ${schema.spec.message}
  - id: second
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-second
      data:
        value: ${first.data.value + "-2"}
`

// rv returns an object's resourceVersion as a number (the real etcd revision
// of its last write), to order writes.
func rv(t *testing.T, obj *unstructured.Unstructured) int64 {
	t.Helper()
	n, err := strconv.ParseInt(obj.GetResourceVersion(), 10, 64)
	require.NoError(t, err)
	return n
}

func TestScenarioCreateInDependencyOrder(t *testing.T) {
	s := newSc(t, "CreateOrder")
	s.setup(chainRGD)
	s.instance("c", map[string]any{"message": "hi"}, nil)
	inst := s.waitState("c", "ACTIVE")
	first := s.waitCMValue("c-first", "value", "hi")
	second := s.waitCMValue("c-second", "value", "hi-2")
	third := s.waitCMValue("c-third", "value", "hi-2-3")
	// Each was created after what it depends on: the resourceVersions of
	// their creation (nobody else writes them) follow the graph.
	assert.Less(t, rv(t, first), rv(t, second), "second is created after first")
	assert.Less(t, rv(t, second), rv(t, third), "third is created after second")
	assert.Equal(t, "hi-2-3", scStatus(inst)["third"])
	// The RGD reports the order and the dependencies.
	rgd := s.rgdObj()
	order, _, _ := unstructured.NestedStringSlice(rgd.Object, "status", "topologicalOrder")
	assert.Equal(t, []string{"first", "second", "third"}, order)
	res, _, _ := unstructured.NestedSlice(rgd.Object, "status", "resources")
	assert.Contains(t, scJSON(res), `"id":"third"`)
	assert.Contains(t, scJSON(res), `{"id":"second"}`)
}

// TestScenarioCreationWritesInstanceMetadataOnce checks that a new instance
// whose children can be named in advance gets its finalizer, labels and
// full inventory in one write: every later metadata write would be a wasted
// request and a wasted reconcile.
func TestScenarioCreationWritesInstanceMetadataOnce(t *testing.T) {
	s := newSc(t, "MetadataOnce")
	s.setup(chainRGD)
	ctx, cancel := context.WithTimeout(context.Background(), scWait)
	defer cancel()
	w, err := s.dyn.Resource(s.gvr).Namespace(s.ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=m"})
	require.NoError(t, err)
	defer w.Stop()
	s.instance("m", nil, nil)

	var metadataWrites int
	var last map[string]any
	for ev := range w.ResultChan() {
		obj, ok := ev.Object.(*unstructured.Unstructured)
		require.True(t, ok, "watch event %s: %#v", ev.Type, ev.Object)
		md := map[string]any{"labels": obj.GetLabels(), "annotations": obj.GetAnnotations(), "finalizers": obj.GetFinalizers()}
		if last != nil && scJSON(md) != scJSON(last) {
			metadataWrites++
		}
		last = md
		if scState(obj) == "ACTIVE" {
			break
		}
	}
	require.NoError(t, ctx.Err(), "the instance did not become ACTIVE")
	assert.Equal(t, 1, metadataWrites, "finalizer, labels and inventory are written once")
	inv := last["annotations"].(map[string]string)[metadata.AnnotationInventory]
	for _, n := range []string{"m-first", "m-second", "m-third"} {
		assert.Contains(t, inv, n)
	}
}

func TestScenarioUpdatePropagatesThroughChain(t *testing.T) {
	s := newSc(t, "UpdateChain")
	s.setup(chainRGD)
	s.instance("u", map[string]any{"message": "one"}, nil)
	s.waitState("u", "ACTIVE")
	s.waitCMValue("u-third", "value", "one-2-3")
	s.instance("u", map[string]any{"message": "two"}, nil)
	s.waitCMValue("u-first", "value", "two")
	s.waitCMValue("u-third", "value", "two-2-3")
	s.waitInstance("u", "status.third updated", func(o *unstructured.Unstructured) (bool, string) {
		return scStatus(o)["third"] == "two-2-3" && scState(o) == "ACTIVE", scJSON(o.Object["status"])
	})
}

func TestScenarioDeleteRemovesEveryChild(t *testing.T) {
	s := newSc(t, "DeleteAll")
	s.setup(chainRGD)
	s.instance("d", nil, nil)
	s.waitState("d", "ACTIVE")
	s.deleteInstance("d")
	s.waitGone(s.gvr, s.ns, "d")
	for _, n := range []string{"d-first", "d-second", "d-third"} {
		assert.False(t, s.exists(configMaps, s.ns, n), "%s is deleted with its instance", n)
	}
}

func TestScenarioDefaultsAndRequiredFields(t *testing.T) {
	s := newSc(t, "Defaults")
	s.setup(`
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: __RGD__
spec:
  schema:
    apiVersion: v1alpha1
    kind: __KIND__
    spec:
      owner: string | required=true
      tier: string | default=standard enum="standard,premium"
      size: integer | default=3 minimum=1 maximum=5
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}
      data:
        owner: ${schema.spec.owner}
        tier: ${schema.spec.tier}
        size: ${string(schema.spec.size)}
`)
	s.instance("def", map[string]any{"owner": "ann"}, nil)
	s.waitState("def", "ACTIVE")
	cm := s.waitCMValue("def", "owner", "ann")
	assert.Equal(t, map[string]any{"owner": "ann", "tier": "standard", "size": "3"}, scData(cm))

	// The generated CRD validates instances: every problem is named.
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kro.run/v1alpha1", "kind": s.kind,
		"metadata": map[string]any{"name": "bad", "namespace": s.ns},
		"spec":     map[string]any{"tier": "gold", "size": int64(9)},
	}}
	_, err := s.dyn.Resource(s.gvr).Namespace(s.ns).Create(context.Background(), obj, metav1.CreateOptions{})
	require.Error(t, err)
	for _, want := range []string{"spec.owner", "spec.tier", "spec.size"} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestScenarioChildLabelsAndAnnotations(t *testing.T) {
	s := newSc(t, "Labels")
	s.setup(chainRGD)
	inst := s.instance("l", nil, nil)
	s.waitState("l", "ACTIVE")
	cm := s.waitCMValue("l-second", "value", "hello-2")
	labels := cm.GetLabels()
	want := map[string]string{
		"kro.run/owned":              "true",
		"kro.run/instance-name":      "l",
		"kro.run/instance-namespace": s.ns,
		"kro.run/instance-id":        string(inst.GetUID()),
		"kro.run/instance-kind":      s.kind,
		"kro.run/instance-group":     "kro.run",
		"kro.run/instance-version":   "v1alpha1",
		"kro.run/node-id":            "second",
	}
	for k, v := range want {
		assert.Equal(t, v, labels[k], "label %s", k)
	}
	assert.NotEmpty(t, labels["kro.run/kro-version"])
	assert.NotEmpty(t, labels["app.kubernetes.io/managed-by"])
	// No ownerReferences (ordered deletion is rgd's job, as in kro).
	assert.Empty(t, cm.GetOwnerReferences())
	// Deletion waves: the dependent is deleted before what it depends on.
	first, _ := get(s.dyn, configMaps, s.ns, "l-first")
	third, _ := get(s.dyn, configMaps, s.ns, "l-third")
	w := func(o *unstructured.Unstructured) int {
		n, err := strconv.Atoi(o.GetAnnotations()["internal.kro.run/apply-order"])
		require.NoError(t, err)
		return n
	}
	assert.Less(t, w(first), w(cm))
	assert.Less(t, w(cm), w(third))

	// The instance carries the finalizer and the RGD's labels.
	got := s.getInstance("l")
	assert.Contains(t, got.GetFinalizers(), "kro.run/finalizer")
	assert.Equal(t, s.rgd, got.GetLabels()["kro.run/resource-graph-definition-name"])
	assert.Equal(t, string(s.rgdObj().GetUID()), got.GetLabels()["kro.run/resource-graph-definition-id"])
}

func TestScenarioInventoryListsChildren(t *testing.T) {
	s := newSc(t, "Inventory")
	s.setup(chainRGD)
	s.instance("inv", nil, nil)
	inst := s.waitState("inv", "ACTIVE")
	raw := inst.GetAnnotations()["rgd.dev/inventory"]
	require.NotEmpty(t, raw, "the instance records its children")
	var entries []map[string]any
	require.NoError(t, json.Unmarshal([]byte(raw), &entries), raw)
	var names []string
	for _, e := range entries {
		names = append(names, fmt.Sprint(e["n"]))
		assert.Equal(t, s.ns, e["ns"], raw)
	}
	assert.ElementsMatch(t, []string{"inv-first", "inv-second", "inv-third"}, names, raw)
	for _, id := range []string{"first", "second", "third"} {
		assert.Contains(t, raw, id)
	}
}

func TestScenarioInstanceConditions(t *testing.T) {
	s := newSc(t, "Conditions")
	s.setup(chainRGD)
	s.instance("cond", nil, nil)
	inst := s.waitState("cond", "ACTIVE")
	// Reasons and messages are kro's, word for word.
	for typ, want := range map[string]scCond{
		"InstanceManaged": {Status: "True", Reason: "Managed", Message: "instance is properly managed with finalizers and labels", Found: true},
		"GraphResolved":   {Status: "True", Reason: "Resolved", Message: "runtime graph created and all resources resolved", Found: true},
		"ResourcesReady":  {Status: "True", Reason: "AllResourcesReady", Message: "all resources are created and ready", Found: true},
		"Ready":           {Status: "True", Reason: "Ready", Message: "", Found: true},
	} {
		assert.Equal(t, want, scCondition(inst, typ), "condition %s", typ)
	}
	conds, _, _ := unstructured.NestedSlice(inst.Object, "status", "conditions")
	for _, c := range conds {
		m := c.(map[string]any)
		assert.Equal(t, inst.GetGeneration(), m["observedGeneration"], "condition %v carries the generation", m["type"])
		assert.NotEmpty(t, m["lastTransitionTime"])
	}
	// The RGD's own conditions.
	rgd := s.rgdObj()
	for _, typ := range []string{"GraphAccepted", "KindReady", "ControllerReady", "Ready"} {
		assert.Equal(t, "True", scCondition(rgd, typ).Status, "RGD condition %s", typ)
	}
	og, _, _ := unstructured.NestedInt64(rgd.Object, "status", "observedGeneration")
	assert.Equal(t, rgd.GetGeneration(), og)
}

func TestScenarioEventsOnInstance(t *testing.T) {
	s := newSc(t, "Events")
	s.setup(chainRGD)
	s.instance("ev", nil, nil)
	inst := s.waitState("ev", "ACTIVE")
	// The first pass creates quietly (the conditions report it); a child
	// created again later is a change to a running stack, and is reported.
	old := s.waitCMValue("ev-third", "value", "hello-2-3")
	require.NoError(t, s.dyn.Resource(configMaps).Namespace(s.ns).Delete(context.Background(), "ev-third", metav1.DeleteOptions{}))
	s.waitObj(configMaps, s.ns, "ev-third", "a new ev-third", func(o *unstructured.Unstructured) (bool, string) {
		if o == nil {
			return false, "absent"
		}
		return o.GetUID() != old.GetUID(), string(o.GetUID())
	})
	all := s.waitEvent(inst, "Created", "ev-third")
	// One sink sends the events in order: a creation event of the first
	// pass would be listed before this one.
	assert.NotContains(t, all, "ev-first", "the first pass reports no creation")
}

func TestScenarioSettledInstanceCausesNoWrites(t *testing.T) {
	s := newSc(t, "Settled")
	s.setup(`
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: __RGD__
spec:
  schema:
    apiVersion: v1alpha1
    kind: __KIND__
    spec:
      port: integer | default=8080
    status:
      clusterIP: ${service.spec.clusterIP}
  resources:
  - id: account
    template:
      apiVersion: v1
      kind: ServiceAccount
      metadata:
        name: ${schema.metadata.name}
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}
      data:
        account: ${account.metadata.name}
  - id: service
    template:
      apiVersion: v1
      kind: Service
      metadata:
        name: ${schema.metadata.name}
      spec:
        selector:
          app: ${schema.metadata.name}
        ports:
        - port: ${schema.spec.port}
          targetPort: 80
`)
	s.instance("calm", nil, nil)
	s.waitState("calm", "ACTIVE")
	s.waitInstance("calm", "status.clusterIP", func(o *unstructured.Unstructured) (bool, string) {
		return scStatus(o)["clusterIP"] != nil, scJSON(o.Object["status"])
	})
	versions := func() map[string]string {
		out := map[string]string{}
		out["instance"] = s.getInstance("calm").GetResourceVersion()
		if o, err := get(s.dyn, configMaps, s.ns, "calm"); err == nil {
			out["configmap"] = o.GetResourceVersion()
		}
		if o, err := get(s.dyn, scServices, s.ns, "calm"); err == nil {
			out["service"] = o.GetResourceVersion()
		}
		if o, err := get(s.dyn, scServiceAccounts, s.ns, "calm"); err == nil {
			out["serviceaccount"] = o.GetResourceVersion()
		}
		return out
	}
	// Let in-flight writes of the first reconciles land: wait until two
	// reads a little apart agree.
	var base map[string]string
	eventually(t, scWait, "a settled instance", func() (bool, string) {
		a := versions()
		time.Sleep(300 * time.Millisecond) // spacing two reads, inside a deadline poll
		b := versions()
		base = b
		return scJSON(a) == scJSON(b) && len(b) == 4, scJSON(a) + " vs " + scJSON(b)
	})
	consistently(t, 4*time.Second, "no writes to a settled instance or its children", func() (bool, string) {
		now := versions()
		return scJSON(now) == scJSON(base), fmt.Sprintf("before %v, now %v", base, now)
	})
}

func TestScenarioTwoInstancesAreIsolated(t *testing.T) {
	s := newSc(t, "Isolated")
	s.setup(chainRGD)
	s.instance("a", map[string]any{"message": "from-a"}, nil)
	s.instance("b", map[string]any{"message": "from-b"}, nil)
	s.waitState("a", "ACTIVE")
	s.waitState("b", "ACTIVE")
	s.waitCMValue("a-third", "value", "from-a-2-3")
	s.waitCMValue("b-third", "value", "from-b-2-3")
	s.deleteInstance("a")
	s.waitGone(s.gvr, s.ns, "a")
	assert.False(t, s.exists(configMaps, s.ns, "a-first"))
	for _, n := range []string{"b-first", "b-second", "b-third"} {
		assert.True(t, s.exists(configMaps, s.ns, n), "%s survives the deletion of the other instance", n)
	}
	assert.Equal(t, "ACTIVE", scState(s.getInstance("b")))
}

func TestScenarioChildOfAnotherInstanceIsRefused(t *testing.T) {
	s := newSc(t, "Clash")
	s.setup(`
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: __RGD__
spec:
  schema:
    apiVersion: v1alpha1
    kind: __KIND__
    spec:
      shared: string | default=shared
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.shared}
      data:
        owner: ${schema.metadata.name}
`)
	s.instance("one", nil, nil)
	s.waitState("one", "ACTIVE")
	s.waitCMValue("shared", "owner", "one")
	s.instance("two", nil, nil)
	inst := s.waitState("two", "ERROR")
	msg := scCondition(inst, "ResourcesReady").Message
	assert.Contains(t, msg, "config")
	assert.Contains(t, msg, "another instance")
	// The first instance's child is untouched.
	cm, err := get(s.dyn, configMaps, s.ns, "shared")
	require.NoError(t, err)
	assert.Equal(t, "one", scData(cm)["owner"])
	assert.Equal(t, "one", cm.GetLabels()["kro.run/instance-name"])
}
