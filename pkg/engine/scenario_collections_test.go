package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const forEachRGD = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: __RGD__
spec:
  schema:
    apiVersion: v1alpha1
    kind: __KIND__
    spec:
      names: '[]string'
    status:
      count: ${size(entries)}
      names: ${entries.map(i, i.metadata.name)}
  resources:
  - id: entries
    forEach:
    - name: ${schema.spec.names}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-${name}
      data:
        name: ${name}
  - id: summary
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-summary
      data:
        all: ${entries.map(i, i.data.name).join(",")}
`

func TestScenarioForEachGrowsAndShrinks(t *testing.T) {
	s := newSc(t, "ForEach")
	s.setup(forEachRGD)
	sel := "kro.run/node-id=entries"
	s.instance("fe", map[string]any{"names": []any{"a", "b"}}, nil)
	s.waitState("fe", "ACTIVE")
	s.waitCMValue("fe-summary", "all", "a,b")
	assert.Equal(t, []string{"fe-a", "fe-b"}, cmNames(s.listCMs(sel)))

	s.instance("fe", map[string]any{"names": []any{"a", "b", "c"}}, nil)
	s.waitCMValue("fe-summary", "all", "a,b,c")
	s.waitCMValue("fe-c", "name", "c")
	items := s.listCMs(sel)
	require.Len(t, items, 3)
	for _, it := range items {
		assert.Equal(t, "3", it.GetLabels()["kro.run/collection-size"], it.GetName())
	}
	assert.Equal(t, "2", s.waitCMValue("fe-c", "name", "c").GetLabels()["kro.run/collection-index"])

	s.instance("fe", map[string]any{"names": []any{"c"}}, nil)
	s.waitGone(configMaps, s.ns, "fe-a")
	s.waitGone(configMaps, s.ns, "fe-b")
	s.waitCMValue("fe-summary", "all", "c")
	inst := s.waitInstance("fe", "status follows the collection", func(o *unstructured.Unstructured) (bool, string) {
		st := scStatus(o)
		return scJSON(st["names"]) == `["fe-c"]` && scJSON(st["count"]) == "1", scJSON(st)
	})
	assert.Equal(t, "ACTIVE", scState(inst))
}

func TestScenarioForEachEmptyList(t *testing.T) {
	s := newSc(t, "ForEachEmpty")
	s.setup(forEachRGD)
	s.instance("e", map[string]any{"names": []any{}}, nil)
	inst := s.waitState("e", "ACTIVE")
	s.waitCMValue("e-summary", "all", "")
	assert.Empty(t, s.listCMs("kro.run/node-id=entries"))
	assert.EqualValues(t, 0, scStatus(inst)["count"])
}

func TestScenarioForEachTwoDimensions(t *testing.T) {
	s := newSc(t, "ForEach2D")
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
      regions: '[]string'
      tiers: '[]string'
  resources:
  - id: cells
    forEach:
    - region: ${schema.spec.regions}
    - tier: ${schema.spec.tiers}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-${region}-${tier}
      data:
        region: ${region}
        tier: ${tier}
`)
	s.instance("p", map[string]any{"regions": []any{"eu", "us"}, "tiers": []any{"web", "db"}}, nil)
	s.waitState("p", "ACTIVE")
	eventually(t, scWait, "the 2x2 product", func() (bool, string) {
		names := cmNames(s.listCMs("kro.run/node-id=cells"))
		return strings.Join(names, " ") == "p-eu-db p-eu-web p-us-db p-us-web", strings.Join(names, " ")
	})
	cm := s.waitCMValue("p-us-db", "region", "us")
	assert.Equal(t, "db", scData(cm)["tier"])
	// Dropping a value of one dimension prunes a whole row.
	s.instance("p", map[string]any{"regions": []any{"eu"}, "tiers": []any{"web", "db"}}, nil)
	s.waitGone(configMaps, s.ns, "p-us-web")
	s.waitGone(configMaps, s.ns, "p-us-db")
	assert.True(t, s.exists(configMaps, s.ns, "p-eu-web"))
}

func TestScenarioForEachReadyWhenEach(t *testing.T) {
	s := newSc(t, "ForEachReady")
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
      names: '[]string'
  resources:
  - id: workers
    forEach:
    - name: ${schema.spec.names}
    readyWhen:
    - ${each.data.?ok.orValue("") == "yes"}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-${name}
      data:
        name: ${name}
  - id: done
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-done
      data:
        count: ${string(size(workers))}
`)
	s.instance("r", map[string]any{"names": []any{"a", "b"}}, nil)
	s.waitCMValue("r-a", "name", "a")
	s.waitCMValue("r-b", "name", "b")
	s.waitInstance("r", "IN_PROGRESS naming the collection", func(o *unstructured.Unstructured) (bool, string) {
		return scState(o) == "IN_PROGRESS" && strings.Contains(scCondition(o, "ResourcesReady").Message, "workers"), scJSON(o.Object["status"])
	})
	// One item ready is not enough.
	s.mergePatch(configMaps, s.ns, "r-a", `{"data":{"ok":"yes"}}`)
	consistently(t, time.Second, "done waits for every item", func() (bool, string) {
		return !s.exists(configMaps, s.ns, "r-done"), "r-done exists with one item not ready"
	})
	s.mergePatch(configMaps, s.ns, "r-b", `{"data":{"ok":"yes"}}`)
	s.waitCMValue("r-done", "count", "2")
	s.waitState("r", "ACTIVE")
}

func TestScenarioStatusProjection(t *testing.T) {
	s := newSc(t, "Status")
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
      message: string | default=hi
    status:
      name: ${config.metadata.name}
      greeting: "${config.data.message} world"
      extra: ${config.data.extra}
      nested:
        length: ${size(config.data.message)}
        uid: ${config.metadata.uid}
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-config
      data:
        message: ${schema.spec.message}
`)
	s.instance("st", nil, nil)
	inst := s.waitState("st", "ACTIVE")
	inst = s.waitInstance("st", "status fields", func(o *unstructured.Unstructured) (bool, string) {
		return scStatus(o)["greeting"] == "hi world", scJSON(o.Object["status"])
	})
	st := scStatus(inst)
	assert.Equal(t, "st-config", st["name"])
	nested, _ := st["nested"].(map[string]any)
	assert.EqualValues(t, 2, nested["length"])
	cm, _ := get(s.dyn, configMaps, s.ns, "st-config")
	assert.Equal(t, string(cm.GetUID()), nested["uid"])
	_, has := st["extra"]
	assert.False(t, has, "a field whose input is missing is left out")
	assert.NotContains(t, scJSON(inst.Object["status"]), "${")

	// The input appears (written by someone else): the field appears.
	s.mergePatch(configMaps, s.ns, "st-config", `{"data":{"extra":"now"}}`)
	s.waitInstance("st", "status.extra", func(o *unstructured.Unstructured) (bool, string) {
		return scStatus(o)["extra"] == "now", scJSON(o.Object["status"])
	})
	// A spec change flows into the status.
	s.instance("st", map[string]any{"message": "hey"}, nil)
	s.waitInstance("st", "status.greeting updated", func(o *unstructured.Unstructured) (bool, string) {
		return scStatus(o)["greeting"] == "hey world", scJSON(o.Object["status"])
	})
}
