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

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
)

// evolvingRGD is an RGD whose versions differ in the parts the scenarios
// change: SPEC (the schema's spec block), DATA (the first ConfigMap's data)
// and EXTRA (more resources).
const evolvingRGD = `
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
SPEC
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-config
      data:
DATA
EXTRA
`

type rgdVersion struct {
	annotations, spec, data, extra string
}

func (v rgdVersion) doc() string {
	if v.spec == "" {
		v.spec = "      message: string | default=hello"
	}
	if v.data == "" {
		v.data = "        message: ${schema.spec.message}"
	}
	r := strings.NewReplacer("ANNOTATIONS\n", v.annotations, "SPEC", v.spec, "DATA", v.data, "EXTRA", v.extra)
	return r.Replace(evolvingRGD)
}

const extraSecondCM = `  - id: second
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-second
      data:
        from: ${config.data.message}`

// waitRGDObserved waits until the RGD's status reports its current
// generation, so that assertions see the outcome of the latest change.
func (s *sc) waitRGDObserved(what string, check func(*unstructured.Unstructured) (bool, string)) *unstructured.Unstructured {
	s.t.Helper()
	return s.waitRGD(what, func(o *unstructured.Unstructured) (bool, string) {
		if o == nil {
			return false, "RGD gone"
		}
		og, _, _ := unstructured.NestedInt64(o.Object, "status", "observedGeneration")
		if og != o.GetGeneration() {
			return false, "status not caught up"
		}
		return check(o)
	})
}

func TestScenarioRGDUpdateMovesInstances(t *testing.T) {
	s := newSc(t, "RGDUpdate")
	s.setup(rgdVersion{}.doc())
	s.instance("a", nil, nil)
	s.instance("b", map[string]any{"message": "bee"}, nil)
	s.waitState("a", "ACTIVE")
	s.waitState("b", "ACTIVE")
	s.apply(rgdVersion{data: "        message: ${schema.spec.message}\n        version: \"2\"", extra: extraSecondCM}.doc())
	for _, n := range []string{"a", "b"} {
		s.waitCMValue(n+"-config", "version", "2")
	}
	s.waitCMValue("a-second", "from", "hello")
	s.waitCMValue("b-second", "from", "bee")
	s.waitState("a", "ACTIVE")
}

func TestScenarioRGDResourceRemovedIsPruned(t *testing.T) {
	s := newSc(t, "RGDPrune")
	s.setup(rgdVersion{extra: extraSecondCM}.doc())
	s.instance("p", nil, nil)
	s.waitState("p", "ACTIVE")
	s.waitCMValue("p-second", "from", "hello")
	s.apply(rgdVersion{}.doc())
	s.waitGone(configMaps, s.ns, "p-second")
	inst := s.waitInstance("p", "inventory without second", func(o *unstructured.Unstructured) (bool, string) {
		inv := o.GetAnnotations()["rgd.dev/inventory"]
		return !strings.Contains(inv, "p-second") && scState(o) == "ACTIVE", inv
	})
	assert.Contains(t, inst.GetAnnotations()["rgd.dev/inventory"], "p-config")
	assert.True(t, s.exists(configMaps, s.ns, "p-config"))
}

func TestScenarioRGDTemplateFieldRemovedFromChild(t *testing.T) {
	s := newSc(t, "RGDFieldGone")
	s.setup(rgdVersion{data: "        message: ${schema.spec.message}\n        old: value"}.doc())
	s.instance("f", nil, nil)
	s.waitState("f", "ACTIVE")
	s.waitCMValue("f-config", "old", "value")
	s.apply(rgdVersion{}.doc())
	s.waitCM("f-config", func(d map[string]any) (bool, string) {
		_, has := d["old"]
		return !has && d["message"] == "hello", scJSON(d)
	})
}

func TestScenarioBreakingChangeRefusedThenAllowed(t *testing.T) {
	s := newSc(t, "Breaking")
	s.setup(rgdVersion{spec: "      message: string | default=hello\n      size: integer | default=1"}.doc())
	s.instance("bk", nil, nil)
	s.waitState("bk", "ACTIVE")
	// Removing a field and changing a type are breaking.
	s.apply(rgdVersion{spec: "      message: integer | default=1", data: "        message: ${string(schema.spec.message)}"}.doc())
	rgd := s.waitRGDObserved("KindReady False with the changes", func(o *unstructured.Unstructured) (bool, string) {
		c := scCondition(o, "KindReady")
		return c.Status == "False", scJSON(o.Object["status"])
	})
	msg := scCondition(rgd, "KindReady").Message
	assert.Equal(t, "Inactive", scState(rgd))
	assert.Contains(t, msg, "breaking")
	assert.Contains(t, msg, "size", "the removed field is listed")
	assert.Contains(t, msg, "message", "the changed type is listed")
	assert.Contains(t, msg, "kro.run/allow-breaking-changes")
	// The old graph keeps running: the instance still reconciles.
	s.instance("bk", map[string]any{"message": "still-string"}, nil)
	s.waitCMValue("bk-config", "message", "still-string")

	s.apply(rgdVersion{
		annotations: "  annotations:\n    kro.run/allow-breaking-changes: \"true\"\n",
		spec:        "      message: integer | default=1", data: "        message: ${string(schema.spec.message)}",
	}.doc())
	waitRGDActive(t, s.dyn, s.rgd)
	rgd = s.rgdObj()
	assert.Equal(t, "True", scCondition(rgd, "KindReady").Status)
	crd, err := get(s.dyn, scCRDs, "", s.gvr.Resource+".kro.run")
	require.NoError(t, err)
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	require.NotEmpty(t, versions)
	msgType, _, _ := unstructured.NestedString(versions[0].(map[string]any), "schema", "openAPIV3Schema", "properties", "spec", "properties", "message", "type")
	assert.Equal(t, "integer", msgType)
	// A new instance uses the new schema.
	s.instance("bk2", map[string]any{"message": int64(7)}, nil)
	s.waitCMValue("bk2-config", "message", "7")
}

func TestScenarioNonBreakingChangeAccepted(t *testing.T) {
	s := newSc(t, "NonBreaking")
	s.setup(rgdVersion{}.doc())
	s.instance("nb", nil, nil)
	s.waitState("nb", "ACTIVE")
	s.apply(rgdVersion{
		spec: "      message: string | default=hello\n      color: string | default=blue",
		data: "        message: ${schema.spec.message}\n        color: ${schema.spec.color}",
	}.doc())
	s.waitRGDObserved("Active after an added field", func(o *unstructured.Unstructured) (bool, string) {
		return scState(o) == "Active", scJSON(o.Object["status"])
	})
	// The existing instance gets the new field's default and its child the
	// new key.
	s.waitInstance("nb", "the child rendered with the new field's default", func(o *unstructured.Unstructured) (bool, string) {
		cm, err := get(s.dyn, configMaps, s.ns, "nb-config")
		if err != nil {
			return false, err.Error()
		}
		return scData(cm)["color"] == "blue", "child data " + scJSON(scData(cm)) + "; instance status " + scJSON(o.Object["status"])
	})
}

func TestScenarioInvalidRGDIsInactive(t *testing.T) {
	s := newSc(t, "Invalid")
	s.apply(`
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: __RGD__
spec:
  schema:
    apiVersion: v1alpha1
    kind: __KIND__
    spec:
      message: string
  resources:
  - id: broken
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}
      data:
        value: ${schema.spec.nosuchfield}
`)
	rgd := s.waitRGDObserved("Inactive with a message", func(o *unstructured.Unstructured) (bool, string) {
		return scCondition(o, "GraphAccepted").Status == "False", scJSON(o.Object["status"])
	})
	c := scCondition(rgd, "GraphAccepted")
	assert.Equal(t, "Inactive", scState(rgd))
	assert.Equal(t, "InvalidResourceGraph", c.Reason)
	assert.Contains(t, c.Message, "broken", "names the resource")
	assert.Contains(t, c.Message, "nosuchfield", "names the field")
	assert.Equal(t, "False", scCondition(rgd, "Ready").Status)
	_, err := get(s.dyn, scCRDs, "", s.gvr.Resource+".kro.run")
	assert.Error(t, err, "no CRD is registered for an invalid RGD")
}

func TestScenarioFailedRecompileKeepsLastGoodGraph(t *testing.T) {
	s := newSc(t, "KeepGood")
	s.setup(rgdVersion{}.doc())
	s.instance("k", map[string]any{"message": "one"}, nil)
	s.waitState("k", "ACTIVE")
	cm := s.waitCMValue("k-config", "message", "one")
	s.apply(rgdVersion{data: "        message: ${schema.spec.nosuchfield}"}.doc())
	rgd := s.waitRGDObserved("Inactive after a broken update", func(o *unstructured.Unstructured) (bool, string) {
		return scCondition(o, "GraphAccepted").Status == "False", scJSON(o.Object["status"])
	})
	msg := scCondition(rgd, "GraphAccepted").Message
	assert.Contains(t, msg, "nosuchfield")
	assert.Contains(t, msg, "keeps running")
	// The existing child is untouched by the broken graph.
	now, err := get(s.dyn, configMaps, s.ns, "k-config")
	require.NoError(t, err)
	assert.Equal(t, cm.GetResourceVersion(), now.GetResourceVersion())
	// The last good graph still reconciles instances: updates and drift.
	s.instance("k", map[string]any{"message": "two"}, nil)
	s.waitCMValue("k-config", "message", "two")
	s.mergePatch(configMaps, s.ns, "k-config", `{"data":{"message":"tampered"}}`)
	s.waitCMValue("k-config", "message", "two")
	// Fixing the RGD makes it Active again.
	s.apply(rgdVersion{data: "        message: ${schema.spec.message}\n        fixed: \"yes\""}.doc())
	s.waitCMValue("k-config", "fixed", "yes")
	waitRGDActive(t, s.dyn, s.rgd)
}

func TestScenarioRGDDeletionWaitsForInstances(t *testing.T) {
	s := newSc(t, "RGDDelete")
	s.setup(rgdVersion{}.doc())
	s.instance("i1", nil, nil)
	s.instance("i2", nil, nil)
	s.waitState("i1", "ACTIVE")
	s.waitState("i2", "ACTIVE")
	require.NoError(t, s.dyn.Resource(v1alpha1.ResourceGraphDefinitionResource).Delete(context.Background(), s.rgd, metav1.DeleteOptions{}))
	rgd := s.waitRGD("deletion blocked, naming the count", func(o *unstructured.Unstructured) (bool, string) {
		if o == nil {
			return false, "the RGD is gone while instances exist"
		}
		msg := scJSON(o.Object["status"])
		return o.GetDeletionTimestamp() != nil && strings.Contains(msg, "2 instance"), msg
	})
	assert.Contains(t, rgd.GetFinalizers(), "kro.run/finalizer")
	// Instances are still served while the RGD waits.
	s.instance("i1", map[string]any{"message": "still"}, nil)
	s.waitCMValue("i1-config", "message", "still")

	s.deleteInstance("i1")
	s.waitRGD("count down to 1", func(o *unstructured.Unstructured) (bool, string) {
		if o == nil {
			return false, "gone too early"
		}
		msg := scJSON(o.Object["status"])
		return strings.Contains(msg, "1 instance"), msg
	})
	s.deleteInstance("i2")
	s.waitGone(s.gvr, s.ns, "i2")
	s.waitGone(configMaps, s.ns, "i2-config")
	s.waitRGD("RGD gone", func(o *unstructured.Unstructured) (bool, string) {
		if o == nil {
			return true, ""
		}
		return false, scJSON(o.Object["status"])
	})
	// Without the engine's CRD-deletion flag, the CRD stays.
	consistently(t, 500*time.Millisecond, "the CRD stays", func() (bool, string) {
		_, err := get(s.dyn, scCRDs, "", s.gvr.Resource+".kro.run")
		return err == nil, "CRD deleted"
	})
}

func TestScenarioRGDStatusReportsGraph(t *testing.T) {
	s := newSc(t, "RGDStatus")
	s.setup(rgdVersion{extra: extraSecondCM}.doc())
	rgd := s.rgdObj()
	order, _, _ := unstructured.NestedStringSlice(rgd.Object, "status", "topologicalOrder")
	assert.Equal(t, []string{"config", "second"}, order)
	res, _, _ := unstructured.NestedSlice(rgd.Object, "status", "resources")
	assert.JSONEq(t, `[{"id":"second","dependencies":[{"id":"config"}]}]`, scJSON(res))
	assert.Contains(t, rgd.GetFinalizers(), "kro.run/finalizer")
	crd, err := get(s.dyn, scCRDs, "", s.gvr.Resource+".kro.run")
	require.NoError(t, err)
	assert.Equal(t, s.rgd, crd.GetLabels()["kro.run/resource-graph-definition-name"])
	kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
	assert.Equal(t, s.kind, kind)
}

func TestScenarioDeleteInstanceWithBrokenRGD(t *testing.T) {
	s := newSc(t, "DeleteBroken")
	s.setup(rgdVersion{extra: extraSecondCM}.doc())
	s.instance("db", nil, nil)
	s.waitState("db", "ACTIVE")
	s.waitCMValue("db-second", "from", "hello")
	s.apply(rgdVersion{data: "        message: ${schema.spec.nosuchfield}", extra: extraSecondCM}.doc())
	s.waitRGDObserved("Inactive", func(o *unstructured.Unstructured) (bool, string) {
		return scCondition(o, "GraphAccepted").Status == "False", scJSON(o.Object["status"])
	})
	// Deletion needs neither the graph nor CEL: it works from the inventory.
	s.deleteInstance("db")
	s.waitGone(s.gvr, s.ns, "db")
	assert.False(t, s.exists(configMaps, s.ns, "db-config"))
	assert.False(t, s.exists(configMaps, s.ns, "db-second"))
}
