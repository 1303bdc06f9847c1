package conditions

import (
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// True is a condition of type typ whose status is True.
func True(typ, reason, message string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: reason, Message: message}
}

// False is a condition of type typ whose status is False.
func False(typ, reason, message string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: metav1.ConditionFalse, Reason: reason, Message: message}
}

// Unknown is a condition of type typ whose status is Unknown.
func Unknown(typ, reason, message string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: metav1.ConditionUnknown, Reason: reason, Message: message}
}

// Set is the conditions of one object's next status.
type Set struct {
	list []metav1.Condition
	// previous are the object's current conditions, for the transition
	// times of conditions not in list yet.
	previous   []metav1.Condition
	generation int64
	now        metav1.Time
}

// New starts an empty set for an object of generation whose current
// conditions are previous: the next status has exactly the conditions set,
// in the order they are first set. A condition whose status is the one it
// has in previous keeps its lastTransitionTime there; any other takes now.
func New(previous []metav1.Condition, generation int64, now time.Time) *Set {
	return &Set{previous: previous, generation: generation, now: metav1.NewTime(now)}
}

// Edit starts a set from an object's current conditions, for an object of
// generation: a condition set replaces the one of its type in place (the
// first, should there be several) or comes last; the others stay as they
// are. current is not modified.
func Edit(current []metav1.Condition, generation int64, now time.Time) *Set {
	return &Set{list: slices.Clone(current), generation: generation, now: metav1.NewTime(now)}
}

// Set sets c (its type, status, reason and message) with the set's
// generation as observedGeneration. Its lastTransitionTime is kept unless
// its status flips (see New and Edit for where the time is kept from); c's
// own observedGeneration and lastTransitionTime are ignored.
func (s *Set) Set(c metav1.Condition) {
	c.ObservedGeneration = s.generation
	c.LastTransitionTime = s.now
	if meta.FindStatusCondition(s.list, c.Type) == nil {
		if prev := meta.FindStatusCondition(s.previous, c.Type); prev != nil && prev.Status == c.Status && !prev.LastTransitionTime.IsZero() {
			c.LastTransitionTime = prev.LastTransitionTime
		}
	}
	meta.SetStatusCondition(&s.list, c)
}

// Aggregate sets the condition typ from the conditions of the types of
// parts, in their order: False with the reason and message of the first
// that is False; else Unknown with those of the first that is Unknown; else
// True with reason and message. Types of parts that are not in the set do
// not count.
func (s *Set) Aggregate(typ string, parts []string, reason, message string) {
	agg := True(typ, reason, message)
	for _, t := range parts {
		c := meta.FindStatusCondition(s.list, t)
		switch {
		case c == nil:
		case c.Status == metav1.ConditionFalse:
			s.Set(False(typ, c.Reason, c.Message))
			return
		case c.Status == metav1.ConditionUnknown && agg.Status == metav1.ConditionTrue:
			agg = Unknown(typ, c.Reason, c.Message)
		}
	}
	s.Set(agg)
}

// IsTrue reports whether the condition typ is in the set and True.
func (s *Set) IsTrue(typ string) bool { return meta.IsStatusConditionTrue(s.list, typ) }

// List returns the conditions of the next status.
func (s *Set) List() []metav1.Condition { return s.list }
