package engine_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/rgd-dev/rgd/pkg/devcluster/devclustertest"
)

// An RGD's status.conditions (runtime.newCondition) are the instance's
// conditions on the wire, as in kro, and follow the instance's spec.
func TestScenarioAuthorConditions(t *testing.T) {
	dyn := startEngine(t)
	ns := devclustertest.Namespace(t)
	apply(t, dyn, ns, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: sc-author-conditions
spec:
  schema:
    apiVersion: v1alpha1
    kind: ScAuthorConditionsApp
    spec:
      enabled: boolean | default=false
    status:
      conditions:
      - '${runtime.newCondition({type: "Enabled", status: schema.spec.enabled ? "True" : "False", reason: "Configured", message: "spec.enabled decides"})}'
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}
      data:
        enabled: ${string(schema.spec.enabled)}
`)
	waitRGDActive(t, dyn, "sc-author-conditions")
	gvr := schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "scauthorconditionsapps"}
	doc := `
apiVersion: kro.run/v1alpha1
kind: ScAuthorConditionsApp
metadata:
  name: demo
  namespace: NAMESPACE
spec:
  enabled: %v
`
	apply(t, dyn, ns, fmt.Sprintf(doc, false))
	conditionIs := func(want string) func() (bool, string) {
		return func() (bool, string) {
			obj, err := dyn.Resource(gvr).Namespace(ns).Get(context.Background(), "demo", metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
			for _, c := range conds {
				m := c.(map[string]any)
				if m["type"] == "Enabled" {
					return m["status"] == want && len(conds) == 1, fmt.Sprintf("%v", conds)
				}
			}
			return false, fmt.Sprintf("%v", conds)
		}
	}
	eventually(t, 30*time.Second, "condition Enabled False, alone on the wire", conditionIs("False"))
	apply(t, dyn, ns, fmt.Sprintf(doc, true))
	eventually(t, 30*time.Second, "condition Enabled True", conditionIs("True"))
}
