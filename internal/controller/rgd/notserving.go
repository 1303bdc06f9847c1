package rgd

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/graph"
)

// readyCondition is the condition type an instance's readiness is read from.
const readyCondition = "Ready"

// reportNotServed tells every instance of g's kind that the engine cannot
// serve the kind, and why (cause: typically a watch of a child kind the
// engine's role does not allow): its Ready condition turns False with
// reason FailedToStart, so that an instance author sees the refusal on
// their own object, not only on the RGD. An instance already saying so is
// not written again. The RGD's retries call it again, so instances created
// meanwhile are told too; once the kind is served, the instance controller
// writes their status as usual.
func (c *Controller) reportNotServed(ctx context.Context, g *graph.Graph, cause error) error {
	ri := c.deps.Dynamic.Resource(g.Instance.Resource)
	list, err := ri.List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing the instances of kind %s to report it is not served: %w", g.Instance.GVK.Kind, err)
	}
	message := fmt.Sprintf("rgd cannot serve kind %s: %v", g.Instance.GVK.Kind, cause)
	var errs []error
	for i := range list.Items {
		inst := &list.Items[i]
		if !withNotServed(inst, message, time.Now()) {
			continue
		}
		if _, err := ri.Namespace(inst.GetNamespace()).UpdateStatus(ctx, inst, metav1.UpdateOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("instance %s/%s: %w", inst.GetNamespace(), inst.GetName(), err))
		}
	}
	return errors.Join(errs...)
}

// withNotServed sets inst's Ready condition to False with reason
// FailedToStart and message, keeping its other conditions, and reports
// whether anything changed.
func withNotServed(inst *unstructured.Unstructured, message string, now time.Time) bool {
	conds, _, _ := unstructured.NestedSlice(inst.Object, "status", "conditions")
	ready := map[string]any{
		"type":               readyCondition,
		"status":             string(metav1.ConditionFalse),
		"reason":             v1alpha1.ReasonFailedToStart,
		"message":            message,
		"observedGeneration": inst.GetGeneration(),
		"lastTransitionTime": now.UTC().Format(time.RFC3339),
	}
	at := -1
	for i, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != readyCondition {
			continue
		}
		if m["status"] == ready["status"] && m["reason"] == ready["reason"] && m["message"] == message {
			return false
		}
		if m["status"] == ready["status"] {
			if ts, ok := m["lastTransitionTime"]; ok {
				ready["lastTransitionTime"] = ts
			}
		}
		at = i
		break
	}
	if at >= 0 {
		conds[at] = ready
	} else {
		conds = append(conds, ready)
	}
	_ = unstructured.SetNestedSlice(inst.Object, conds, "status", "conditions")
	return true
}
