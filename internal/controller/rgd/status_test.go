package rgd

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/rgd-dev/rgd/internal/controller/instance"
	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
)

// TestNextStatus checks the conditions and state of an RGD's status: the
// three steps, Ready made of them, transition times that move only on a
// flip, and conditions of others left as they are.
func TestNextStatus(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	now := t0.Add(time.Hour)
	cd := func(typ v1alpha1.ConditionType, ok bool, reason, message string, ts *metav1.Time) v1alpha1.Condition {
		s := metav1.ConditionFalse
		if ok {
			s = metav1.ConditionTrue
		}
		return v1alpha1.Condition{Type: typ, Status: s, Reason: &reason, Message: &message, LastTransitionTime: ts, ObservedGeneration: 2}
	}
	nowT := metav1.NewTime(now)
	pending := "waiting for the steps before it"
	serving := statusUpdate{
		accepted: cond(true, v1alpha1.ReasonValid, "the graph is valid"),
		kind:     cond(true, v1alpha1.ReasonKindReady, "kind Web has been accepted and ready"),
		running:  cond(true, v1alpha1.ReasonRunning, "instances are being reconciled"),
	}
	foreignReason := "Theirs"
	foreign := v1alpha1.Condition{Type: "SomeoneElses", Status: metav1.ConditionTrue, Reason: &foreignReason}
	for _, tc := range []struct {
		name      string
		current   []v1alpha1.Condition
		st        statusUpdate
		want      []v1alpha1.Condition
		wantState v1alpha1.ResourceGraphDefinitionState
	}{
		{name: "served", st: serving, wantState: v1alpha1.StateActive, want: []v1alpha1.Condition{
			cd(v1alpha1.ConditionGraphAccepted, true, v1alpha1.ReasonValid, "the graph is valid", &nowT),
			cd(v1alpha1.ConditionKindReady, true, v1alpha1.ReasonKindReady, "kind Web has been accepted and ready", &nowT),
			cd(v1alpha1.ConditionControllerReady, true, v1alpha1.ReasonRunning, "instances are being reconciled", &nowT),
			cd(v1alpha1.ConditionReady, true, "Ready", "the graph is served", &nowT),
		}},
		{name: "invalid graph: the steps after it are pending", wantState: v1alpha1.StateInactive,
			st: statusUpdate{accepted: cond(false, v1alpha1.ReasonInvalidResourceGraph, "bad")}, want: []v1alpha1.Condition{
				cd(v1alpha1.ConditionGraphAccepted, false, v1alpha1.ReasonInvalidResourceGraph, "bad", &nowT),
				cd(v1alpha1.ConditionKindReady, false, "Pending", pending, &nowT),
				cd(v1alpha1.ConditionControllerReady, false, "Pending", pending, &nowT),
				cd(v1alpha1.ConditionReady, false, v1alpha1.ReasonInvalidResourceGraph, "bad", &nowT),
			}},
		{name: "nothing set: Ready is pending", wantState: v1alpha1.StateInactive, want: []v1alpha1.Condition{
			cd(v1alpha1.ConditionGraphAccepted, false, "Pending", pending, &nowT),
			cd(v1alpha1.ConditionKindReady, false, "Pending", pending, &nowT),
			cd(v1alpha1.ConditionControllerReady, false, "Pending", pending, &nowT),
			cd(v1alpha1.ConditionReady, false, "Pending", pending, &nowT),
		}},
		{name: "a step fails after the others: transition times move only on a flip", wantState: v1alpha1.StateInactive,
			current: []v1alpha1.Condition{
				foreign,
				cd(v1alpha1.ConditionGraphAccepted, true, v1alpha1.ReasonValid, "the graph is valid", &t0),
				cd(v1alpha1.ConditionKindReady, true, v1alpha1.ReasonKindReady, "kind Web has been accepted and ready", nil),
				cd(v1alpha1.ConditionControllerReady, true, v1alpha1.ReasonRunning, "instances are being reconciled", &t0),
				cd(v1alpha1.ConditionReady, true, "Ready", "the graph is served", &t0),
			},
			st: statusUpdate{accepted: serving.accepted, kind: serving.kind, running: cond(false, "DeletionBlocked", "waits")},
			want: []v1alpha1.Condition{
				foreign,
				cd(v1alpha1.ConditionGraphAccepted, true, v1alpha1.ReasonValid, "the graph is valid", &t0),
				cd(v1alpha1.ConditionKindReady, true, v1alpha1.ReasonKindReady, "kind Web has been accepted and ready", nil),
				cd(v1alpha1.ConditionControllerReady, false, "DeletionBlocked", "waits", &nowT),
				cd(v1alpha1.ConditionReady, false, "DeletionBlocked", "waits", &nowT),
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rgd := &v1alpha1.ResourceGraphDefinition{}
			rgd.Generation = 2
			rgd.Status.Conditions = tc.current
			got := nextStatus(rgd, nil, tc.st, now)
			assert.Equal(t, tc.want, got.Conditions)
			assert.Equal(t, tc.wantState, got.State)
			assert.Equal(t, int64(2), got.ObservedGeneration)
		})
	}
}

// fakeInstances is an Instances that records the subscription to instances
// gone.
type fakeInstances struct {
	gone func(schema.GroupVersionResource)
}

func (f *fakeInstances) Register(context.Context, instance.Kind) error { return nil }
func (f *fakeInstances) ServeDeletions(context.Context, schema.GroupVersionResource, string, string, types.UID) error {
	return nil
}
func (f *fakeInstances) Deregister(schema.GroupVersionResource)                     {}
func (f *fakeInstances) Instances(schema.GroupVersionResource) (int, bool)          { return 0, false }
func (f *fakeInstances) SubscribeInstanceGone(fn func(schema.GroupVersionResource)) { f.gone = fn }

// TestNewSubscribesToInstancesGone checks that the controller hears of
// instances gone from the instance controller it is given, and enqueues
// the RGD that serves their kind (its deletion may wait for them).
func TestNewSubscribesToInstancesGone(t *testing.T) {
	inst := &fakeInstances{}
	c := New(Deps{Instances: inst}, Options{})
	defer c.loop.ShutDown()
	if !assert.NotNil(t, inst.gone, "New subscribes") {
		return
	}
	web := schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "webs"}
	c.served["web"] = &served{gvr: web}
	inst.gone(schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "others"})
	assert.Equal(t, 0, c.loop.Len(), "an instance of another kind")
	inst.gone(web)
	assert.Equal(t, 1, c.loop.Len())
}
