package rgd

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/record"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/graph"
)

func costWarning(field string) *graph.Error {
	return &graph.Error{RGD: "web", ResourceID: "config", Field: field, Expression: "x.map(a, x.map(b, a + b))",
		Message: "estimated CEL cost exceeds the limit", Code: graph.CodeCostEstimate}
}

// TestAcceptedConditionCarriesWarnings checks GraphAccepted of a graph with
// warnings: still True with reason Valid (kro's condition), the warnings in
// its message without the RGD's name, at most maxWarningsInMessage of them.
func TestAcceptedConditionCarriesWarnings(t *testing.T) {
	assert.Equal(t, cond(true, v1alpha1.ReasonValid, "the graph is valid"), acceptedCondition(&graph.Graph{}))
	assert.Equal(t, cond(true, v1alpha1.ReasonValid, "the graph is valid"), acceptedCondition(nil))

	one := acceptedCondition(&graph.Graph{Warnings: graph.ErrorList{costWarning("data.a")}})
	assert.True(t, one.ok)
	assert.Equal(t, v1alpha1.ReasonValid, one.reason)
	assert.Equal(t, `the graph is valid, with 1 warning(s): resource "config": data.a: expression "x.map(a, x.map(b, a + b))": `+
		`estimated CEL cost exceeds the limit`, one.message)

	var many graph.ErrorList
	for i := range 5 {
		many = append(many, costWarning(fmt.Sprintf("data.k%d", i)))
	}
	msg := acceptedCondition(&graph.Graph{Warnings: many}).message
	assert.Contains(t, msg, "with 5 warning(s): ")
	assert.Contains(t, msg, "data.k2")
	assert.NotContains(t, msg, "data.k3")
	assert.Contains(t, msg, "; and 2 more (see the Warning events)")
	assert.NotContains(t, msg, `rgd "web"`)
}

// TestReportWarningsRecordsEvents checks one Warning event per warning,
// its reason the warning's code.
func TestReportWarningsRecordsEvents(t *testing.T) {
	rgd := &unstructured.Unstructured{}
	rgd.SetAPIVersion("kro.run/v1alpha1")
	rgd.SetKind("ResourceGraphDefinition")
	rgd.SetName("web")
	rec := record.NewFakeRecorder(4)
	c := &Controller{opts: Options{Recorder: rec}}
	c.reportWarnings(rgd, &graph.Graph{Warnings: graph.ErrorList{costWarning("data.a"), costWarning("data.b")}})
	assert.Equal(t, `Warning CostEstimateExceeded resource "config": data.a: expression "x.map(a, x.map(b, a + b))": estimated CEL cost exceeds the limit`, <-rec.Events)
	assert.Contains(t, <-rec.Events, "data.b")
	c.reportWarnings(rgd, &graph.Graph{})
	assert.Empty(t, rec.Events, "no warning, no event")
	(&Controller{}).reportWarnings(rgd, &graph.Graph{Warnings: graph.ErrorList{costWarning("data.a")}}) // no recorder
}
