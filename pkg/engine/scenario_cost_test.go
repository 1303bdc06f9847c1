package engine_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// costlyRGD joins the pairs of a list without maxItems: its estimated CEL
// cost is far above the static limit, which kro does not check.
const costlyRGD = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: __RGD__
spec:
  schema:
    apiVersion: v1alpha1
    kind: __KIND__
    spec:
      names: "[]string"
  resources:
  - id: pairs
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-pairs
      data:
        pairs: ${schema.spec.names.map(a, schema.spec.names.map(b, a + b).join(",")).join(";")}
`

const costlyExpr = `schema.spec.names.map(a, schema.spec.names.map(b, a + b).join(",")).join(";")`

// TestScenarioCostlyExpressionRunsBounded: an RGD whose estimated cost is
// above the limit becomes Active, the estimate a warning in GraphAccepted's
// message and a Warning event; an instance whose list is too large for the
// expression fails with a condition naming the resource, the expression and
// the runtime cost limit, while a small instance of the same RGD works.
func TestScenarioCostlyExpressionRunsBounded(t *testing.T) {
	s := newSc(t, "Costly")
	s.setup(costlyRGD)

	rgd := s.rgdObj()
	accepted := scCondition(rgd, "GraphAccepted")
	assert.Equal(t, "True", accepted.Status)
	assert.Equal(t, "Valid", accepted.Reason)
	assert.Contains(t, accepted.Message, "the graph is valid, with 1 warning(s): ")
	assert.Contains(t, accepted.Message, `resource "pairs": spec.resources[0].template.data.pairs: expression "`+strings.ReplaceAll(costlyExpr, `"`, `\"`)+`": estimated CEL cost exceeds the limit`)
	s.waitEvent(rgd, "CostEstimateExceeded", "spec.resources[0].template.data.pairs", "the estimated worst-case cost is", "the limit is 10000000")

	names := make([]any, 1500)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i)
	}
	s.instance("huge", map[string]any{"names": names}, nil)
	s.instance("small", map[string]any{"names": []any{"a", "b"}}, nil)

	s.waitState("small", "ACTIVE")
	s.waitCMValue("small-pairs", "pairs", "aa,ab;ba,bb")

	s.waitInstance("huge", "the huge instance failing on the runtime cost limit", func(o *unstructured.Unstructured) (bool, string) {
		c := scCondition(o, "GraphResolved")
		ok := scState(o) == "ERROR" && c.Status == "False" &&
			strings.Contains(c.Message, `resource "pairs": data.pairs: ${`+costlyExpr+`}`) &&
			strings.Contains(c.Message, "the runtime CEL cost limit was hit: the evaluation was stopped at the per-evaluation limit of 1000000")
		return ok, scJSON(o.Object["status"])
	})
	require.False(t, s.exists(configMaps, s.ns, "huge-pairs"), "nothing is applied from a failed evaluation")

	// The engine is not stalled by the failing instance: a change of the
	// small one still goes through.
	s.instance("small", map[string]any{"names": []any{"c"}}, nil)
	s.waitCMValue("small-pairs", "pairs", "cc")
}
