package engine_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// selectorRGD reads the ConfigMaps of the instance's namespace that the
// instance's own spec.selector selects, and summarises them in a ConfigMap.
const selectorRGD = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: __RGD__
spec:
  schema:
    apiVersion: v1alpha1
    kind: __KIND__
    spec:
      selector: object | required=true
    status:
      members: ${peers.map(p, p.metadata.name)}
  resources:
  - id: peers
    externalRef:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        namespace: ${schema.metadata.namespace}
        selector: ${schema.spec.selector}
  - id: summary
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-summary
      data:
        names: ${peers.map(p, p.metadata.name).join(",")}
`

// peer creates a ConfigMap of the scenario's namespace with a team label.
func (s *sc) peer(name, team string) {
	s.t.Helper()
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

// TestScenarioExternalRefSelectorFromSpec: a selector that is one expression
// reads the objects the instance's spec selects; when the spec changes, the
// instance reads, and is woken by, the objects of the new selector.
func TestScenarioExternalRefSelectorFromSpec(t *testing.T) {
	s := newSc(t, "SelFromSpec")
	s.setup(selectorRGD)
	s.peer("peer-a", "blue")
	s.peer("peer-z", "red")
	s.instance("sel", map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"team": "blue"}}}, nil)
	s.waitState("sel", "ACTIVE")
	s.waitCMValue("sel-summary", "names", "peer-a")

	// Another selector, of another shape: the instance follows it.
	s.instance("sel", map[string]any{"selector": map[string]any{"matchExpressions": []any{
		map[string]any{"key": "team", "operator": "In", "values": []any{"red", "green"}},
	}}}, nil)
	s.waitCMValue("sel-summary", "names", "peer-z")
	s.waitInstance("sel", "status.members", func(o *unstructured.Unstructured) (bool, string) {
		return scJSON(scStatus(o)["members"]) == `["peer-z"]`, scJSON(o.Object["status"])
	})

	// Objects the new selector matches reach the instance; those only the
	// old one matched do not join it.
	s.peer("peer-b", "blue")
	s.peer("peer-y", "green")
	s.waitCMValue("sel-summary", "names", "peer-y,peer-z")
	s.mergePatch(configMaps, s.ns, "peer-a", `{"metadata":{"labels":{"team":"red"}}}`)
	s.waitCMValue("sel-summary", "names", "peer-a,peer-y,peer-z")
	s.waitState("sel", "ACTIVE")
}

// TestScenarioExternalRefMalformedSelector: a rendered selector that is not
// a label selector (a misspelled matchLabels, a bare map of labels) fails
// the resource with a condition naming it and what is wrong, instead of
// matching every object; a fixed selector brings the instance back.
func TestScenarioExternalRefMalformedSelector(t *testing.T) {
	s := newSc(t, "SelMalformed")
	s.setup(selectorRGD)
	s.peer("peer-a", "blue")
	s.peer("peer-z", "red")

	failsWith := func(problem string) {
		t.Helper()
		o := s.waitInstance("bad", "the peers resource failing on its selector", func(o *unstructured.Unstructured) (bool, string) {
			c := scCondition(o, "ResourcesReady")
			return scState(o) == "ERROR" && c.Status == "False" && strings.Contains(c.Message, problem), scJSON(o.Object["status"])
		})
		msg := scCondition(o, "ResourcesReady").Message
		assert.Contains(t, msg, "peers: externalRef selector is not a label selector")
		assert.NotContains(t, scStatus(o), "members", "a malformed selector reads nothing")
		assert.False(t, s.exists(configMaps, s.ns, "bad-summary"), "nothing depending on the selector is created")
	}
	s.instance("bad", map[string]any{"selector": map[string]any{"matchLabel": map[string]any{"team": "blue"}}}, nil)
	failsWith("metadata.selector.matchLabel: Forbidden: not a field of a label selector")

	s.instance("bad", map[string]any{"selector": map[string]any{"team": "blue"}}, nil)
	failsWith("(a map of labels belongs under matchLabels)")

	s.instance("bad", map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"team": "blue"}}}, nil)
	s.waitState("bad", "ACTIVE")
	s.waitCMValue("bad-summary", "names", "peer-a")
}
