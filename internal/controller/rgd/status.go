package rgd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/rgd-dev/rgd/internal/conditions"
	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/graph"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

// The status of an RGD: three conditions (GraphAccepted, KindReady,
// ControllerReady) that make Ready, the state, and the graph's order.

// conditionUpdate is one condition to write.
type conditionUpdate struct {
	set     bool
	ok      bool
	reason  string
	message string
}

func cond(ok bool, reason, message string) conditionUpdate {
	return conditionUpdate{set: true, ok: ok, reason: reason, message: message}
}

// statusUpdate holds the three conditions that make Ready.
type statusUpdate struct {
	accepted, kind, running conditionUpdate
}

// condition is u as a condition of type t; a condition not set says that
// it waits for the steps before it.
func (u conditionUpdate) condition(t v1alpha1.ConditionType) metav1.Condition {
	switch {
	case !u.set:
		return conditions.False(string(t), "Pending", "waiting for the steps before it")
	case u.ok:
		return conditions.True(string(t), u.reason, u.message)
	}
	return conditions.False(string(t), u.reason, u.message)
}

// maxWarningsInMessage bounds the warnings GraphAccepted's message lists;
// every one is a Warning event.
const maxWarningsInMessage = 3

// acceptedCondition is GraphAccepted for a valid graph g. kro's condition
// types and reasons stay as they are: the graph's warnings, when it has
// any, follow in the message.
func acceptedCondition(g *graph.Graph) conditionUpdate {
	msg := "the graph is valid"
	if g == nil || len(g.Warnings) == 0 {
		return cond(true, v1alpha1.ReasonValid, msg)
	}
	shown := g.Warnings[:min(len(g.Warnings), maxWarningsInMessage)]
	texts := make([]string, len(shown))
	for i, w := range shown {
		texts[i] = withoutRGD(w)
	}
	msg += fmt.Sprintf(", with %d warning(s): %s", len(g.Warnings), strings.Join(texts, "; "))
	if more := len(g.Warnings) - len(shown); more > 0 {
		msg += fmt.Sprintf("; and %d more (see the Warning events)", more)
	}
	return cond(true, v1alpha1.ReasonValid, msg)
}

// withoutRGD is a problem as said on the RGD itself: without its name.
func withoutRGD(e *graph.Error) string {
	local := *e
	local.RGD = ""
	return local.Error()
}

// servingStatus is the status of an RGD whose graph g is served, its
// children written as identity (nil: the engine's own).
func servingStatus(g *graph.Graph, identity *graph.ServiceAccount) statusUpdate {
	return statusUpdate{
		accepted: acceptedCondition(g),
		kind:     kindReadyCondition(g.Instance.GVK.Kind, identity),
		running:  cond(true, v1alpha1.ReasonRunning, "instances are being reconciled"),
	}
}

// kindReadyCondition is KindReady for a served kind: kro's message, and
// when children are written as a ServiceAccount, which one.
func kindReadyCondition(kind string, identity *graph.ServiceAccount) conditionUpdate {
	msg := fmt.Sprintf("kind %s has been accepted and ready", kind)
	if identity != nil {
		msg += "; children are written as " + identity.Describe()
	}
	return cond(true, v1alpha1.ReasonKindReady, msg)
}

// writeStatus writes kro's status for an RGD, only when it changed.
func (c *Controller) writeStatus(ctx context.Context, obj *unstructured.Unstructured, rgd *v1alpha1.ResourceGraphDefinition, g *graph.Graph, st statusUpdate) error {
	status := nextStatus(rgd, g, st, time.Now())
	if equalStatus(&rgd.Status, status) {
		return nil
	}
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(status)
	if err != nil {
		return err
	}
	out := obj.DeepCopy()
	out.Object["status"] = raw
	_, err = c.deps.Dynamic.Resource(v1alpha1.ResourceGraphDefinitionResource).UpdateStatus(ctx, out, metav1.UpdateOptions{FieldManager: metadata.FieldManagerController})
	return err
}

// nextStatus is the status of an RGD whose conditions st says, serving g
// (nil: none), at now: the conditions that make Ready, Ready, the state and,
// for an accepted graph, its topological order and dependencies.
func nextStatus(rgd *v1alpha1.ResourceGraphDefinition, g *graph.Graph, st statusUpdate, now time.Time) *v1alpha1.ResourceGraphDefinitionStatus {
	status := rgd.Status.DeepCopy()
	set := conditions.Edit(toMeta(status.Conditions), rgd.Generation, now)
	set.Set(st.accepted.condition(v1alpha1.ConditionGraphAccepted))
	set.Set(st.kind.condition(v1alpha1.ConditionKindReady))
	set.Set(st.running.condition(v1alpha1.ConditionControllerReady))
	set.Aggregate(string(v1alpha1.ConditionReady), []string{
		string(v1alpha1.ConditionGraphAccepted), string(v1alpha1.ConditionKindReady), string(v1alpha1.ConditionControllerReady),
	}, "Ready", "the graph is served")
	status.Conditions = fromMeta(set.List(), status.Conditions)
	status.State = v1alpha1.StateInactive
	if set.IsTrue(string(v1alpha1.ConditionReady)) {
		status.State = v1alpha1.StateActive
	}
	if g != nil && st.accepted.ok {
		status.TopologicalOrder = g.TopologicalOrder()
		status.Resources = nil
		for _, r := range g.Resources {
			if len(r.Dependencies) == 0 {
				continue
			}
			info := v1alpha1.ResourceInformation{ID: r.ID}
			for _, d := range r.Dependencies {
				info.Dependencies = append(info.Dependencies, v1alpha1.Dependency{ID: d})
			}
			status.Resources = append(status.Resources, info)
		}
	}
	status.ObservedGeneration = rgd.Generation
	return status
}

// toMeta returns an RGD's conditions as metav1 conditions.
func toMeta(list []v1alpha1.Condition) []metav1.Condition {
	out := make([]metav1.Condition, len(list))
	for i, c := range list {
		out[i] = metav1.Condition{Type: string(c.Type), Status: c.Status, ObservedGeneration: c.ObservedGeneration}
		if c.LastTransitionTime != nil {
			out[i].LastTransitionTime = *c.LastTransitionTime
		}
		if c.Reason != nil {
			out[i].Reason = *c.Reason
		}
		if c.Message != nil {
			out[i].Message = *c.Message
		}
	}
	return out
}

// fromMeta returns list as an RGD's conditions. A condition unchanged from
// the one at its place in previous (what toMeta was given) is that one, as
// it was.
func fromMeta(list []metav1.Condition, previous []v1alpha1.Condition) []v1alpha1.Condition {
	was := toMeta(previous)
	out := make([]v1alpha1.Condition, len(list))
	for i, c := range list {
		if i < len(previous) && equality.Semantic.DeepEqual(was[i], c) {
			out[i] = previous[i]
			continue
		}
		reason, message := c.Reason, c.Message
		out[i] = v1alpha1.Condition{Type: v1alpha1.ConditionType(c.Type), Status: c.Status, Reason: &reason, Message: &message,
			ObservedGeneration: c.ObservedGeneration}
		if !c.LastTransitionTime.IsZero() {
			t := c.LastTransitionTime
			out[i].LastTransitionTime = &t
		}
	}
	return out
}

// equalStatus compares statuses ignoring transition times.
func equalStatus(a, b *v1alpha1.ResourceGraphDefinitionStatus) bool {
	strip := func(s *v1alpha1.ResourceGraphDefinitionStatus) *v1alpha1.ResourceGraphDefinitionStatus {
		c := s.DeepCopy()
		for i := range c.Conditions {
			c.Conditions[i].LastTransitionTime = nil
		}
		return c
	}
	return equality.Semantic.DeepEqual(strip(a), strip(b))
}
