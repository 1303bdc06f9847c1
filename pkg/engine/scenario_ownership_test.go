package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const oneCMRGD = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: __RGD__
ANNOTATIONS
spec:
  schema:
    apiVersion: v1alpha1
    kind: __KIND__
    spec:
      message: string | default=hello
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-config
      data:
        message: ${schema.spec.message}
        fixed: constant
`

func oneCM(annotations string) string {
	return strings.Replace(oneCMRGD, "ANNOTATIONS\n", annotations, 1)
}

func TestScenarioDriftOwnedFieldIsRepaired(t *testing.T) {
	s := newSc(t, "DriftOwned")
	s.setup(oneCM(""))
	s.instance("d", nil, nil)
	s.waitState("d", "ACTIVE")
	s.waitCMValue("d-config", "message", "hello")
	// Someone changes a field rgd owns and adds one it does not.
	s.mergePatch(configMaps, s.ns, "d-config", `{"data":{"message":"tampered","theirs":"kept"},"metadata":{"labels":{"team":"x"}}}`)
	cm := s.waitCMValue("d-config", "message", "hello")
	d := scData(cm)
	assert.Equal(t, "constant", d["fixed"])
	assert.Equal(t, "kept", d["theirs"], "a field rgd does not own is left alone")
	assert.Equal(t, "x", cm.GetLabels()["team"], "a label rgd does not own is left alone")
	assert.Equal(t, "true", cm.GetLabels()["kro.run/owned"])
}

func TestScenarioDriftOwnedLabelIsRepaired(t *testing.T) {
	s := newSc(t, "DriftLabel")
	s.setup(oneCM(""))
	s.instance("dl", nil, nil)
	s.waitState("dl", "ACTIVE")
	s.waitCMValue("dl-config", "message", "hello")
	// Removing a field rgd owns (not only changing it) is repaired too.
	s.mergePatch(configMaps, s.ns, "dl-config", `{"data":{"fixed":null}}`)
	s.waitCMValue("dl-config", "fixed", "constant")
}

func TestScenarioDeletedChildIsRecreated(t *testing.T) {
	s := newSc(t, "Recreate")
	s.setup(oneCM(""))
	s.instance("r", nil, nil)
	s.waitState("r", "ACTIVE")
	old := s.waitCMValue("r-config", "message", "hello")
	require.NoError(t, s.dyn.Resource(configMaps).Namespace(s.ns).Delete(context.Background(), "r-config", metav1.DeleteOptions{}))
	s.waitObj(configMaps, s.ns, "r-config", "a new r-config", func(o *unstructured.Unstructured) (bool, string) {
		if o == nil {
			return false, "absent"
		}
		return o.GetUID() != old.GetUID() && scData(o)["message"] == "hello", string(o.GetUID())
	})
	s.waitState("r", "ACTIVE")
}

func TestScenarioAdoptionRefused(t *testing.T) {
	s := newSc(t, "AdoptRefused")
	s.setup(oneCM(""))
	s.apply(`
apiVersion: v1
kind: ConfigMap
metadata:
  name: pre-config
  namespace: NAMESPACE
data:
  message: mine
`)
	s.instance("pre", nil, nil)
	inst := s.waitState("pre", "ERROR")
	msg := scCondition(inst, "ResourcesReady").Message
	assert.Contains(t, msg, "config")
	assert.Contains(t, msg, "pre-config")
	assert.Contains(t, msg, "already exists")
	assert.Contains(t, msg, "rgd.dev/adopt-existing")
	assert.Equal(t, "False", scCondition(inst, "Ready").Status)
	consistently(t, time.Second, "the existing object stays untouched", func() (bool, string) {
		cm, err := get(s.dyn, configMaps, s.ns, "pre-config")
		if err != nil {
			return false, err.Error()
		}
		d := scData(cm)
		return d["message"] == "mine" && d["fixed"] == nil && len(cm.GetLabels()) == 0, scJSON(cm.Object)
	})
	// Deleting the instance never deletes what it did not create.
	s.deleteInstance("pre")
	s.waitGone(s.gvr, s.ns, "pre")
	assert.True(t, s.exists(configMaps, s.ns, "pre-config"))
}

func TestScenarioAdoptionAllowedByAnnotation(t *testing.T) {
	s := newSc(t, "AdoptAllowed")
	s.setup(oneCM("  annotations:\n    rgd.dev/adopt-existing: \"true\"\n"))
	s.apply(`
apiVersion: v1
kind: ConfigMap
metadata:
  name: pre-config
  namespace: NAMESPACE
data:
  message: mine
`)
	inst := s.instance("pre", nil, nil)
	s.waitState("pre", "ACTIVE")
	cm := s.waitCMValue("pre-config", "message", "hello")
	assert.Equal(t, "constant", scData(cm)["fixed"])
	assert.Equal(t, string(inst.GetUID()), cm.GetLabels()["kro.run/instance-id"])
	// Adopted, it is now the instance's: deleted with it.
	s.deleteInstance("pre")
	s.waitGone(configMaps, s.ns, "pre-config")
}

func TestScenarioSuspensionAndResume(t *testing.T) {
	s := newSc(t, "Suspend")
	s.setup(oneCM(""))
	s.instance("s", map[string]any{"message": "one"}, nil)
	s.waitState("s", "ACTIVE")
	s.waitCMValue("s-config", "message", "one")
	s.instance("s", map[string]any{"message": "two"}, map[string]string{"kro.run/reconcile": "suspended"})
	s.waitInstance("s", "suspended", func(o *unstructured.Unstructured) (bool, string) {
		c := scCondition(o, "ResourcesReady")
		return c.Reason == "ReconciliationSuspended" && o.GetGeneration() == scCondObservedGen(o, "ResourcesReady"), scJSON(o.Object["status"])
	})
	consistently(t, time.Second, "the spec change does not reach the child", func() (bool, string) {
		cm, _ := get(s.dyn, configMaps, s.ns, "s-config")
		return scData(cm)["message"] == "one", scJSON(scData(cm))
	})
	// Drift is not repaired while suspended either.
	s.mergePatch(configMaps, s.ns, "s-config", `{"data":{"fixed":"changed"}}`)
	consistently(t, time.Second, "drift stays while suspended", func() (bool, string) {
		cm, _ := get(s.dyn, configMaps, s.ns, "s-config")
		return scData(cm)["fixed"] == "changed", scJSON(scData(cm))
	})
	// Removing the annotation resumes.
	s.instance("s", map[string]any{"message": "two"}, nil)
	s.waitCM("s-config", func(d map[string]any) (bool, string) {
		return d["message"] == "two" && d["fixed"] == "constant", scJSON(d)
	})
	s.waitState("s", "ACTIVE")
}

// scCondObservedGen returns a condition's observedGeneration.
func scCondObservedGen(obj *unstructured.Unstructured, typ string) int64 {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			g, _ := m["observedGeneration"].(int64)
			return g
		}
	}
	return -1
}

func TestScenarioDeletionWaitsForBlockingChild(t *testing.T) {
	s := newSc(t, "DeleteOrder")
	s.setup(chainRGD)
	s.instance("o", nil, nil)
	s.waitState("o", "ACTIVE")
	// A finalizer we control holds the last wave (third).
	s.mergePatch(configMaps, s.ns, "o-third", `{"metadata":{"finalizers":["test.rgd.dev/hold"]}}`)
	s.deleteInstance("o")
	inst := s.waitInstance("o", "DELETING naming the blocking child", func(o *unstructured.Unstructured) (bool, string) {
		return scState(o) == "DELETING" && strings.Contains(scCondition(o, "ResourcesReady").Message, "o-third"), scJSON(o.Object["status"])
	})
	assert.Equal(t, "UnderDeletion", scCondition(inst, "ResourcesReady").Reason)
	consistently(t, time.Second, "earlier waves wait for the blocked one", func() (bool, string) {
		return s.exists(configMaps, s.ns, "o-second") && s.exists(configMaps, s.ns, "o-first"), "an earlier wave was deleted"
	})
	s.mergePatch(configMaps, s.ns, "o-third", `{"metadata":{"finalizers":null}}`)
	s.waitGone(s.gvr, s.ns, "o")
	for _, n := range []string{"o-first", "o-second", "o-third"} {
		assert.False(t, s.exists(configMaps, s.ns, n), n)
	}
}

func TestScenarioClusterScopedInstance(t *testing.T) {
	s := newSc(t, "Cluster")
	s.setup(`
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: __RGD__
spec:
  schema:
    apiVersion: v1alpha1
    kind: __KIND__
    scope: Cluster
    spec:
      target: string | required=true
    status:
      where: ${config.metadata.namespace}
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-config
        namespace: ${schema.spec.target}
      data:
        owner: ${schema.metadata.name}
  - id: account
    template:
      apiVersion: v1
      kind: ServiceAccount
      metadata:
        name: ${schema.metadata.name}
        namespace: ${schema.spec.target}
`)
	name := s.ns // unique across the suite
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kro.run/v1alpha1", "kind": s.kind,
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"target": s.ns},
	}}
	_, err := s.dyn.Resource(s.gvr).Apply(context.Background(), name, obj, metav1.ApplyOptions{FieldManager: "test", Force: true})
	require.NoError(t, err)
	inst := waitState(t, s.dyn, s.gvr, "", name, "ACTIVE", scWait)
	assert.Equal(t, s.ns, scStatus(inst)["where"])
	cm := s.waitCMValue(name+"-config", "owner", name)
	assert.Equal(t, name, cm.GetLabels()["kro.run/instance-name"])
	_, hasNS := cm.GetLabels()["kro.run/instance-namespace"]
	assert.False(t, hasNS, "a cluster-scoped instance has no namespace label")
	assert.True(t, s.exists(scServiceAccounts, s.ns, name))

	require.NoError(t, s.dyn.Resource(s.gvr).Delete(context.Background(), name, metav1.DeleteOptions{}))
	s.waitGone(s.gvr, "", name)
	assert.False(t, s.exists(configMaps, s.ns, name+"-config"))
	assert.False(t, s.exists(scServiceAccounts, s.ns, name))
}
