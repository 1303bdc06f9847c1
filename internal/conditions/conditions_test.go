package conditions

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var (
	t0  = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	now = t0.Add(time.Hour)
)

// at is c as it stands on an object: computed for generation at time.
func at(c metav1.Condition, generation int64, ts time.Time) metav1.Condition {
	c.ObservedGeneration = generation
	c.LastTransitionTime = metav1.NewTime(ts)
	return c
}

func TestNamedTransitions(t *testing.T) {
	assert.Equal(t, metav1.Condition{Type: "A", Status: metav1.ConditionTrue, Reason: "R", Message: "m"}, True("A", "R", "m"))
	assert.Equal(t, metav1.Condition{Type: "A", Status: metav1.ConditionFalse, Reason: "R", Message: "m"}, False("A", "R", "m"))
	assert.Equal(t, metav1.Condition{Type: "A", Status: metav1.ConditionUnknown, Reason: "R", Message: "m"}, Unknown("A", "R", "m"))
}

// TestNew checks a set that makes the next conditions from scratch: exactly
// the conditions set, in the order set, each keeping its previous transition
// time only when its status did not flip.
func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name     string
		previous []metav1.Condition
		set      []metav1.Condition
		want     []metav1.Condition
	}{
		{name: "first status", set: []metav1.Condition{True("A", "R", "m"), False("B", "S", "n")},
			want: []metav1.Condition{at(True("A", "R", "m"), 3, now), at(False("B", "S", "n"), 3, now)}},
		{name: "same status keeps its time; reason, message and generation move on",
			previous: []metav1.Condition{at(True("A", "Old", "old"), 2, t0)},
			set:      []metav1.Condition{True("A", "R", "m")},
			want:     []metav1.Condition{at(True("A", "R", "m"), 3, t0)}},
		{name: "a flip takes now", previous: []metav1.Condition{at(True("A", "R", "m"), 3, t0)},
			set:  []metav1.Condition{Unknown("A", "R", "m")},
			want: []metav1.Condition{at(Unknown("A", "R", "m"), 3, now)}},
		{name: "no previous time takes now", previous: []metav1.Condition{{Type: "A", Status: metav1.ConditionTrue}},
			set:  []metav1.Condition{True("A", "R", "m")},
			want: []metav1.Condition{at(True("A", "R", "m"), 3, now)}},
		{name: "previous conditions not set are dropped, order is the order set",
			previous: []metav1.Condition{at(True("B", "R", "m"), 3, t0), at(True("Gone", "R", "m"), 3, t0), at(True("A", "R", "m"), 3, t0)},
			set:      []metav1.Condition{True("A", "R", "m"), True("B", "R", "m")},
			want:     []metav1.Condition{at(True("A", "R", "m"), 3, t0), at(True("B", "R", "m"), 3, t0)}},
		{name: "set twice: the second replaces the first in place",
			set:  []metav1.Condition{False("A", "R", "m"), True("B", "R", "m"), False("A", "S", "n")},
			want: []metav1.Condition{at(False("A", "S", "n"), 3, now), at(True("B", "R", "m"), 3, now)}},
		{name: "the condition's own generation and time are ignored",
			set:  []metav1.Condition{at(True("A", "R", "m"), 9, t0)},
			want: []metav1.Condition{at(True("A", "R", "m"), 3, now)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(tc.previous, 3, now)
			for _, c := range tc.set {
				s.Set(c)
			}
			assert.Equal(t, tc.want, s.List())
		})
	}
}

// TestEdit checks a set that edits an object's conditions: a condition set
// replaces its type's in place or comes last, the others stay as they are,
// and the transition time moves only on a flip.
func TestEdit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		current []metav1.Condition
		set     []metav1.Condition
		want    []metav1.Condition
	}{
		{name: "same status keeps its time",
			current: []metav1.Condition{at(False("A", "Old", "old"), 2, t0)},
			set:     []metav1.Condition{False("A", "R", "m")},
			want:    []metav1.Condition{at(False("A", "R", "m"), 3, t0)}},
		{name: "same status without a time stays without one",
			current: []metav1.Condition{{Type: "A", Status: metav1.ConditionFalse}},
			set:     []metav1.Condition{False("A", "R", "m")},
			want:    []metav1.Condition{{Type: "A", Status: metav1.ConditionFalse, Reason: "R", Message: "m", ObservedGeneration: 3}}},
		{name: "a flip takes now", current: []metav1.Condition{at(False("A", "R", "m"), 3, t0)},
			set:  []metav1.Condition{True("A", "R", "m")},
			want: []metav1.Condition{at(True("A", "R", "m"), 3, now)}},
		{name: "others stay in place, new ones come last",
			current: []metav1.Condition{at(True("Other", "X", "x"), 1, t0), at(True("A", "R", "m"), 3, t0)},
			set:     []metav1.Condition{True("B", "R", "m"), True("A", "R", "m")},
			want:    []metav1.Condition{at(True("Other", "X", "x"), 1, t0), at(True("A", "R", "m"), 3, t0), at(True("B", "R", "m"), 3, now)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := append([]metav1.Condition(nil), tc.current...)
			s := Edit(tc.current, 3, now)
			for _, c := range tc.set {
				s.Set(c)
			}
			assert.Equal(t, tc.want, s.List())
			assert.Equal(t, before, tc.current, "the current conditions are not modified")
		})
	}
}

// TestAggregate checks Ready: False as the first part that is False, else
// Unknown as the first that is Unknown, else True.
func TestAggregate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		set   []metav1.Condition
		parts []string
		want  metav1.Condition
	}{
		{name: "all true", set: []metav1.Condition{True("A", "a", "a"), True("B", "b", "b")}, parts: []string{"A", "B"},
			want: True("Ready", "Ready", "ready")},
		{name: "no parts", want: True("Ready", "Ready", "ready")},
		{name: "the first false", set: []metav1.Condition{True("A", "a", "a"), False("B", "b", "b"), False("C", "c", "c")},
			parts: []string{"A", "B", "C"}, want: False("Ready", "b", "b")},
		{name: "in the order of parts", set: []metav1.Condition{False("A", "a", "a"), False("B", "b", "b")},
			parts: []string{"B", "A"}, want: False("Ready", "b", "b")},
		{name: "the first unknown", set: []metav1.Condition{Unknown("A", "a", "a"), Unknown("B", "b", "b")},
			parts: []string{"A", "B"}, want: Unknown("Ready", "a", "a")},
		{name: "false wins over an unknown before it", set: []metav1.Condition{Unknown("A", "a", "a"), False("B", "b", "b")},
			parts: []string{"A", "B"}, want: False("Ready", "b", "b")},
		{name: "conditions not among the parts do not count", set: []metav1.Condition{False("A", "a", "a"), True("B", "b", "b")},
			parts: []string{"B"}, want: True("Ready", "Ready", "ready")},
		{name: "parts not in the set do not count", set: []metav1.Condition{True("B", "b", "b")},
			parts: []string{"A", "B"}, want: True("Ready", "Ready", "ready")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(nil, 3, now)
			for _, c := range tc.set {
				s.Set(c)
			}
			s.Aggregate("Ready", tc.parts, "Ready", "ready")
			list := s.List()
			assert.Equal(t, at(tc.want, 3, now), list[len(list)-1], "Ready comes last")
			assert.Equal(t, tc.want.Status == metav1.ConditionTrue, s.IsTrue("Ready"))
		})
	}
}

func TestIsTrue(t *testing.T) {
	s := New(nil, 1, now)
	assert.False(t, s.IsTrue("A"), "absent")
	s.Set(Unknown("A", "R", "m"))
	assert.False(t, s.IsTrue("A"))
	s.Set(True("A", "R", "m"))
	assert.True(t, s.IsTrue("A"))
}
