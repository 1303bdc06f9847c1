package instance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/rgd-dev/rgd/internal/conditions"
	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/render"
)

// The types of the conditions rgd writes on an instance.
const (
	condManaged        = string(v1alpha1.ConditionInstanceManaged)
	condGraphResolved  = string(v1alpha1.ConditionGraphResolved)
	condResourcesReady = string(v1alpha1.ConditionResourcesReady)
	condReady          = string(v1alpha1.ConditionReady)
)

// The messages of the conditions of an instance in good health are kro's
// (Ready=True has none), so that tools written for kro read the same. Where
// kro says nothing useful, rgd's messages name what is waited on or failed.
const (
	msgManaged        = "instance is properly managed with finalizers and labels"
	msgGraphResolved  = "runtime graph created and all resources resolved"
	msgResourcesReady = "all resources are created and ready"
	msgReady          = ""
)

// managed is the InstanceManaged condition of an instance rgd manages.
func managed() metav1.Condition {
	return conditions.True(condManaged, "Managed", msgManaged)
}

// writeStatus projects the status fields and sets state and conditions from
// what the pass found.
func (p *pass) writeStatus(ctx context.Context) error {
	fields, _, err := render.Status(p.g, p.in)
	if err != nil {
		p.graphErr = err
	}
	var notReady, failed []string
	for _, res := range p.g.Resources {
		ns := p.states[res.ID]
		switch ns.state {
		case stateError:
			failed = append(failed, fmt.Sprintf("%s: %s", res.ID, ns.message))
		case stateSynced, stateSkipped:
		default:
			notReady = append(notReady, fmt.Sprintf("%s (%s)", res.ID, ns.message))
		}
	}
	for _, msg := range p.pruneRefused {
		failed = append(failed, "pruning: "+msg+" (retrying with backoff)")
	}
	state := v1alpha1.InstanceStateActive
	conds := []metav1.Condition{managed()}
	if p.graphErr != nil {
		conds = append(conds, conditions.False(condGraphResolved, "ResolutionFailed", p.graphErr.Error()))
	} else {
		conds = append(conds, conditions.True(condGraphResolved, "Resolved", msgGraphResolved))
	}
	switch {
	case len(failed) > 0:
		state = v1alpha1.InstanceStateError
		conds = append(conds, conditions.False(condResourcesReady, "ResourceFailed", strings.Join(failed, "; ")))
	case len(notReady) > 0:
		state = v1alpha1.InstanceStateInProgress
		conds = append(conds, conditions.False(condResourcesReady, "NotReady", "awaiting resource readiness: "+strings.Join(notReady, "; ")))
	default:
		conds = append(conds, conditions.True(condResourcesReady, "AllResourcesReady", msgResourcesReady))
	}
	if len(p.g.Instance.Conditions) > 0 {
		author, pending, err := render.Conditions(p.g, p.in)
		if err != nil {
			state = v1alpha1.InstanceStateError
		}
		return p.r.writeStatusWith(ctx, p.st.gvr, p.inst, fields, state, conds, &authorConditions{list: author, keepOld: len(pending) > 0 || err != nil})
	}
	return p.r.writeStatus(ctx, p.st.gvr, p.inst, fields, state, conds)
}

// authorConditions are the conditions an RGD's status.conditions produced;
// when an RGD has any, they are the instance's conditions on the wire.
type authorConditions struct {
	list []map[string]any
	// keepOld keeps earlier conditions whose expressions could not be
	// evaluated this time.
	keepOld bool
}

// currentStatusFields returns the instance's projected status fields as they
// are, for writes that change only state and conditions.
func currentStatusFields(inst *unstructured.Unstructured) map[string]any {
	status, _ := inst.Object["status"].(map[string]any)
	out := map[string]any{}
	for k, v := range status {
		if k != "state" && k != "conditions" {
			out[k] = v
		}
	}
	return out
}

func stateOf(inst *unstructured.Unstructured) v1alpha1.InstanceState {
	s, _, _ := unstructured.NestedString(inst.Object, "status", "state")
	if s == "" {
		return v1alpha1.InstanceStateInProgress
	}
	return v1alpha1.InstanceState(s)
}

// writeStatus writes state, conditions (with the root Ready) and fields
// through the status subresource, only when they differ from what is there.
func (r *Reconciler) writeStatus(ctx context.Context, gvr schema.GroupVersionResource, inst *unstructured.Unstructured, fields map[string]any, state v1alpha1.InstanceState, conds []metav1.Condition) error {
	return r.writeStatusWith(ctx, gvr, inst, fields, state, conds, nil)
}

// writeStatusWith is writeStatus with the author's conditions, when the RGD
// defines some, in place of rgd's own.
func (r *Reconciler) writeStatusWith(ctx context.Context, gvr schema.GroupVersionResource, inst *unstructured.Unstructured, fields map[string]any, state v1alpha1.InstanceState, conds []metav1.Condition, author *authorConditions) error {
	old, _ := inst.Object["status"].(map[string]any)
	previous := conditionsByType(old)
	now := time.Now()
	var list []any
	if author != nil {
		list = author.conditions(previous, inst.GetGeneration(), now)
	} else {
		list = ownConditions(previous, conds, inst.GetGeneration(), now)
	}
	status := map[string]any{}
	for k, v := range fields {
		status[k] = v
	}
	status["state"] = string(state)
	status["conditions"] = list
	r.countState(inst, string(state))
	if sameJSON(old, status) {
		return nil
	}
	inst = inst.DeepCopy()
	inst.Object["status"] = status
	out, err := r.dyn.Resource(gvr).Namespace(inst.GetNamespace()).UpdateStatus(ctx, inst, metav1.UpdateOptions{FieldManager: "rgd"})
	if err != nil {
		return fmt.Errorf("writing the status of %s/%s: %w", inst.GetNamespace(), inst.GetName(), err)
	}
	r.memory.rememberInstance(gvr, out)
	return nil
}

// conditionsByType returns the conditions of an instance's status by type
// (the last of a type, should there be several).
func conditionsByType(status map[string]any) map[string]map[string]any {
	byType := map[string]map[string]any{}
	list, _ := status["conditions"].([]any)
	for _, c := range list {
		if m, ok := c.(map[string]any); ok {
			if t, _ := m["type"].(string); t != "" {
				byType[t] = m
			}
		}
	}
	return byType
}

// ownConditions are rgd's conditions conds, then Ready aggregated from
// them, as written on an instance of generation whose current conditions
// are previous.
func ownConditions(previous map[string]map[string]any, conds []metav1.Condition, generation int64, now time.Time) []any {
	current := make([]metav1.Condition, 0, len(previous))
	for t, m := range previous {
		c := metav1.Condition{Type: t}
		if s, ok := m["status"].(string); ok {
			c.Status = metav1.ConditionStatus(s)
		}
		if ts, ok := m["lastTransitionTime"].(string); ok {
			if at, err := time.Parse(time.RFC3339, ts); err == nil {
				c.LastTransitionTime = metav1.NewTime(at)
			}
		}
		current = append(current, c)
	}
	set := conditions.New(current, generation, now)
	parts := make([]string, len(conds))
	for i, c := range conds {
		set.Set(c)
		parts[i] = c.Type
	}
	set.Aggregate(condReady, parts, "Ready", msgReady)
	list := make([]any, 0, len(set.List()))
	for _, c := range set.List() {
		list = append(list, map[string]any{
			"type":               c.Type,
			"status":             string(c.Status),
			"reason":             c.Reason,
			"message":            c.Message,
			"observedGeneration": c.ObservedGeneration,
			"lastTransitionTime": c.LastTransitionTime.UTC().Format(time.RFC3339),
		})
	}
	return list
}

// conditions are the author's conditions as written on an instance of
// generation whose current conditions are previous. They are maps, as the
// author's expressions made them: observedGeneration and lastTransitionTime
// are added unless the author set them, and the transition time of a
// condition whose status did not change is kept from previous, verbatim.
func (a *authorConditions) conditions(previous map[string]map[string]any, generation int64, now time.Time) []any {
	at := now.UTC().Format(time.RFC3339)
	list := make([]any, 0, len(a.list))
	seen := map[string]bool{}
	for _, c := range a.list {
		m := map[string]any{"observedGeneration": generation, "lastTransitionTime": at}
		for k, v := range c {
			m[k] = v
		}
		t, _ := m["type"].(string)
		if prev, ok := previous[t]; ok && prev["status"] == m["status"] {
			if ts, ok := prev["lastTransitionTime"]; ok {
				m["lastTransitionTime"] = ts
			}
		}
		seen[t] = true
		list = append(list, m)
	}
	if a.keepOld {
		var kept []string
		for t := range previous {
			if !seen[t] {
				kept = append(kept, t)
			}
		}
		sort.Strings(kept)
		for _, t := range kept {
			list = append(list, previous[t])
		}
	}
	return list
}

func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// countState keeps the instances-by-state gauge.
func (r *Reconciler) countState(inst *unstructured.Unstructured, state string) {
	if r.opts.Metrics == nil {
		return
	}
	key := string(inst.GetUID())
	kind := inst.GetKind()
	r.statesMu.Lock()
	defer r.statesMu.Unlock()
	if prev, ok := r.states[key]; ok {
		if prev == state {
			return
		}
		r.opts.Metrics.Instances.WithLabelValues(kind, prev).Dec()
	}
	if state == "" {
		delete(r.states, key)
		return
	}
	r.states[key] = state
	r.opts.Metrics.Instances.WithLabelValues(kind, state).Inc()
}
