package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// gateRGD: "gate" is ready only once someone else (the test, standing in
// for a controller) writes data.ready=yes into it; "after" reads the gate.
const gateRGD = `
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
  resources:
  - id: gate
    readyWhen:
    - ${gate.data.?ready.orValue("") == "yes"}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-gate
      data:
        message: ${schema.spec.message}
  - id: after
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-after
      data:
        copied: ${gate.data.message}
`

func TestScenarioReadyWhenGatesDependents(t *testing.T) {
	s := newSc(t, "Gate")
	s.setup(gateRGD)
	s.instance("g", nil, nil)
	s.waitCMValue("g-gate", "message", "hello")
	inst := s.waitInstance("g", "IN_PROGRESS naming the gate", func(o *unstructured.Unstructured) (bool, string) {
		c := scCondition(o, "ResourcesReady")
		return scState(o) == "IN_PROGRESS" && c.Status == "False" && strings.Contains(c.Message, "gate"), scJSON(o.Object["status"])
	})
	assert.Contains(t, scCondition(inst, "ResourcesReady").Message, "after", "the dependent is named as waiting too")
	consistently(t, time.Second, "the dependent is not created while the gate is not ready", func() (bool, string) {
		return !s.exists(configMaps, s.ns, "g-after"), "g-after exists"
	})
	// A third party marks the gate ready: the dependent follows at once.
	s.mergePatch(configMaps, s.ns, "g-gate", `{"data":{"ready":"yes"}}`)
	s.waitCMValue("g-after", "copied", "hello")
	s.waitState("g", "ACTIVE")
}

func TestScenarioConditionNamesWaitedResource(t *testing.T) {
	s := newSc(t, "CondNames")
	s.setup(gateRGD)
	s.instance("n", nil, nil)
	inst := s.waitInstance("n", "conditions naming the gate", func(o *unstructured.Unstructured) (bool, string) {
		return strings.Contains(scCondition(o, "Ready").Message, "gate"), scJSON(o.Object["status"])
	})
	assert.Equal(t, "False", scCondition(inst, "Ready").Status)
	assert.Equal(t, "NotReady", scCondition(inst, "ResourcesReady").Reason)
	assert.Contains(t, scCondition(inst, "ResourcesReady").Message, "ready")
}

func TestScenarioDeploymentReadinessGatesConfigMap(t *testing.T) {
	s := newSc(t, "Deploy")
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
      replicas: integer | default=1
    status:
      available: ${deployment.status.?availableReplicas.orValue(0)}
  resources:
  - id: deployment
    readyWhen:
    - ${deployment.status.?availableReplicas.orValue(0) == deployment.spec.replicas}
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: ${schema.metadata.name}
      spec:
        replicas: ${schema.spec.replicas}
        selector:
          matchLabels: {app: "${schema.metadata.name}"}
        template:
          metadata:
            labels: {app: "${schema.metadata.name}"}
          spec:
            containers:
            - name: web
              image: nginx
  - id: report
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-report
      data:
        available: ${string(deployment.status.availableReplicas)}
`)
	s.instance("web", map[string]any{"replicas": int64(2)}, nil)
	inst := s.waitState("web", "ACTIVE")
	assert.EqualValues(t, 2, scStatus(inst)["available"])
	// The ConfigMap was rendered only once the Deployment was available.
	s.waitCMValue("web-report", "available", "2")
}

const includeRGD = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: __RGD__
spec:
  schema:
    apiVersion: v1alpha1
    kind: __KIND__
    spec:
      enabled: boolean | default=false
  resources:
  - id: base
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-base
      data:
        k: v
  - id: optional
    includeWhen:
    - ${schema.spec.enabled}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-optional
      data:
        from: ${base.data.k}
  - id: dependent
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-dependent
      data:
        from: ${optional.data.from}
`

func TestScenarioIncludeWhenFalseSkipsDependents(t *testing.T) {
	s := newSc(t, "IncludeFalse")
	s.setup(includeRGD)
	s.instance("off", map[string]any{"enabled": false}, nil)
	s.waitState("off", "ACTIVE")
	assert.True(t, s.exists(configMaps, s.ns, "off-base"))
	assert.False(t, s.exists(configMaps, s.ns, "off-optional"), "excluded by includeWhen")
	assert.False(t, s.exists(configMaps, s.ns, "off-dependent"), "skipped with what it depends on")
}

func TestScenarioIncludeWhenTrueCreates(t *testing.T) {
	s := newSc(t, "IncludeTrue")
	s.setup(includeRGD)
	s.instance("on", map[string]any{"enabled": true}, nil)
	s.waitState("on", "ACTIVE")
	s.waitCMValue("on-optional", "from", "v")
	s.waitCMValue("on-dependent", "from", "v")
}

func TestScenarioIncludeWhenFlipPrunesAndRestores(t *testing.T) {
	s := newSc(t, "IncludeFlip")
	s.setup(includeRGD)
	s.instance("f", map[string]any{"enabled": true}, nil)
	s.waitState("f", "ACTIVE")
	s.waitCMValue("f-dependent", "from", "v")
	inst := s.instance("f", map[string]any{"enabled": false}, nil)
	s.waitGone(configMaps, s.ns, "f-optional")
	s.waitGone(configMaps, s.ns, "f-dependent")
	assert.True(t, s.exists(configMaps, s.ns, "f-base"))
	s.waitEvent(inst, "Deleted", "f-optional", "f-dependent")
	s.waitInstance("f", "pruned children leave the inventory", func(o *unstructured.Unstructured) (bool, string) {
		inv := o.GetAnnotations()["rgd.dev/inventory"]
		return scState(o) == "ACTIVE" && !strings.Contains(inv, "f-optional") && !strings.Contains(inv, "f-dependent"), inv
	})
	s.instance("f", map[string]any{"enabled": true}, nil)
	s.waitCMValue("f-optional", "from", "v")
	s.waitCMValue("f-dependent", "from", "v")
}

func TestScenarioIncludeWhenOnResourceData(t *testing.T) {
	s := newSc(t, "IncludeData")
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
      mode: string | default=off
  resources:
  - id: settings
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-settings
      data:
        mode: ${schema.spec.mode}
  - id: extra
    includeWhen:
    - ${settings.data.mode == "on"}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-extra
      data:
        k: v
`)
	s.instance("m", map[string]any{"mode": "on"}, nil)
	s.waitState("m", "ACTIVE")
	s.waitCMValue("m-extra", "k", "v")
	s.instance("m", map[string]any{"mode": "off"}, nil)
	s.waitGone(configMaps, s.ns, "m-extra")
	s.waitCMValue("m-settings", "mode", "off")
}

func TestScenarioExternalRefByNameAppearsLate(t *testing.T) {
	s := newSc(t, "ExtName")
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
      settings: string | default=settings
    status:
      level: ${settings.data.level}
  resources:
  - id: settings
    externalRef:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.settings}
  - id: app
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-app
      data:
        level: ${settings.data.level}
`)
	s.instance("x", map[string]any{"settings": "late-settings"}, nil)
	inst := s.waitInstance("x", "IN_PROGRESS naming the external", func(o *unstructured.Unstructured) (bool, string) {
		msg := scCondition(o, "ResourcesReady").Message
		return scState(o) == "IN_PROGRESS" && strings.Contains(msg, "settings") && strings.Contains(msg, "late-settings"), scJSON(o.Object["status"])
	})
	assert.NotContains(t, scJSON(inst.Object["status"]), "${", "no unresolved expression is ever written")
	_, has := scStatus(inst)["level"]
	assert.False(t, has, "status.level waits for its input")
	assert.False(t, s.exists(configMaps, s.ns, "x-app"), "nothing that reads the external is created")

	s.apply(`
apiVersion: v1
kind: ConfigMap
metadata:
  name: late-settings
  namespace: NAMESPACE
data:
  level: debug
`)
	s.waitCMValue("x-app", "level", "debug")
	inst = s.waitState("x", "ACTIVE")
	s.waitInstance("x", "status.level", func(o *unstructured.Unstructured) (bool, string) {
		return scStatus(o)["level"] == "debug", scJSON(o.Object["status"])
	})
	// Changes of the external propagate; it is never written by rgd.
	s.mergePatch(configMaps, s.ns, "late-settings", `{"data":{"level":"info"}}`)
	s.waitCMValue("x-app", "level", "info")
	ext, _ := get(s.dyn, configMaps, s.ns, "late-settings")
	assert.Empty(t, ext.GetLabels()["kro.run/owned"], "an external reference is never labelled")

	// Deleting the instance leaves the external alone.
	s.deleteInstance("x")
	s.waitGone(s.gvr, s.ns, "x")
	assert.True(t, s.exists(configMaps, s.ns, "late-settings"), "an external reference is never deleted")
	assert.False(t, s.exists(configMaps, s.ns, "x-app"))
}

func TestScenarioExternalRefBySelector(t *testing.T) {
	s := newSc(t, "ExtSelector")
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
      team: string | required=true
    status:
      members: ${peers.map(p, p.metadata.name)}
  resources:
  - id: peers
    externalRef:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        namespace: ${schema.metadata.namespace}
        selector:
          matchLabels:
            team: ${schema.spec.team}
  - id: summary
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-summary
      data:
        count: ${string(size(peers))}
        names: ${peers.map(p, p.metadata.name).join(",")}
`)
	peer := func(name, team string) {
		s.apply(fmt.Sprintf(`
apiVersion: v1
kind: ConfigMap
metadata:
  name: %s
  namespace: NAMESPACE
  labels:
    team: %s
`, name, team))
	}
	peer("peer-a", "blue")
	peer("peer-z", "red")
	s.instance("sel", map[string]any{"team": "blue"}, nil)
	s.waitState("sel", "ACTIVE")
	s.waitCMValue("sel-summary", "names", "peer-a")
	peer("peer-b", "blue")
	s.waitCM("sel-summary", func(d map[string]any) (bool, string) {
		return d["count"] == "2" && d["names"] == "peer-a,peer-b", scJSON(d)
	})
	s.waitInstance("sel", "status.members", func(o *unstructured.Unstructured) (bool, string) {
		return scJSON(scStatus(o)["members"]) == `["peer-a","peer-b"]`, scJSON(o.Object["status"])
	})
	// A matched object losing its label leaves the list.
	s.mergePatch(configMaps, s.ns, "peer-a", `{"metadata":{"labels":{"team":"green"}}}`)
	s.waitCMValue("sel-summary", "names", "peer-b")
}
