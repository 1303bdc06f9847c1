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

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/render"
)

// condition is one instance condition to write.
type condition struct {
	typ     v1alpha1.ConditionType
	ok      bool
	unknown bool
	reason  string
	message string
}

func (c condition) status() string {
	switch {
	case c.unknown:
		return string(metav1.ConditionUnknown)
	case c.ok:
		return string(metav1.ConditionTrue)
	}
	return string(metav1.ConditionFalse)
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
	state := v1alpha1.InstanceStateActive
	conds := []condition{{typ: v1alpha1.ConditionInstanceManaged, ok: true, reason: "Managed", message: "instance is managed by rgd"}}
	if p.graphErr != nil {
		conds = append(conds, condition{typ: v1alpha1.ConditionGraphResolved, reason: "ResolutionFailed", message: p.graphErr.Error()})
	} else {
		conds = append(conds, condition{typ: v1alpha1.ConditionGraphResolved, ok: true, reason: "Resolved", message: "every expression evaluated"})
	}
	switch {
	case len(failed) > 0:
		state = v1alpha1.InstanceStateError
		conds = append(conds, condition{typ: v1alpha1.ConditionResourcesReady, reason: "ResourceFailed", message: strings.Join(failed, "; ")})
	case len(notReady) > 0:
		state = v1alpha1.InstanceStateInProgress
		conds = append(conds, condition{typ: v1alpha1.ConditionResourcesReady, reason: "NotReady", message: "awaiting resource readiness: " + strings.Join(notReady, "; ")})
	default:
		conds = append(conds, condition{typ: v1alpha1.ConditionResourcesReady, ok: true, reason: "AllResourcesReady", message: "all resources are ready"})
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
func (r *Reconciler) writeStatus(ctx context.Context, gvr schema.GroupVersionResource, inst *unstructured.Unstructured, fields map[string]any, state v1alpha1.InstanceState, conds []condition) error {
	return r.writeStatusWith(ctx, gvr, inst, fields, state, conds, nil)
}

// writeStatusWith is writeStatus with the author's conditions, when the RGD
// defines some, in place of rgd's own.
func (r *Reconciler) writeStatusWith(ctx context.Context, gvr schema.GroupVersionResource, inst *unstructured.Unstructured, fields map[string]any, state v1alpha1.InstanceState, conds []condition, author *authorConditions) error {
	old, _ := inst.Object["status"].(map[string]any)
	oldConds := map[string]map[string]any{}
	if list, ok := old["conditions"].([]any); ok {
		for _, c := range list {
			if m, ok := c.(map[string]any); ok {
				if t, _ := m["type"].(string); t != "" {
					oldConds[t] = m
				}
			}
		}
	}
	ready := condition{typ: v1alpha1.ConditionReady, ok: true, reason: "Ready", message: "instance is ready"}
	for _, c := range conds {
		if c.unknown && ready.ok {
			ready = condition{typ: v1alpha1.ConditionReady, unknown: true, reason: c.reason, message: c.message}
		}
		if !c.ok && !c.unknown {
			ready = condition{typ: v1alpha1.ConditionReady, reason: c.reason, message: c.message}
			break
		}
	}
	all := append(conds, ready)
	now := time.Now().UTC().Format(time.RFC3339)
	list := make([]any, 0, len(all))
	for _, c := range all {
		m := map[string]any{
			"type":               string(c.typ),
			"status":             c.status(),
			"reason":             c.reason,
			"message":            c.message,
			"observedGeneration": inst.GetGeneration(),
			"lastTransitionTime": now,
		}
		if prev, ok := oldConds[string(c.typ)]; ok && prev["status"] == m["status"] {
			if t, ok := prev["lastTransitionTime"]; ok {
				m["lastTransitionTime"] = t
			}
		}
		list = append(list, m)
	}
	if author != nil {
		list = list[:0]
		seen := map[string]bool{}
		for _, c := range author.list {
			m := map[string]any{"observedGeneration": inst.GetGeneration(), "lastTransitionTime": now}
			for k, v := range c {
				m[k] = v
			}
			t, _ := m["type"].(string)
			if prev, ok := oldConds[t]; ok && prev["status"] == m["status"] {
				if ts, ok := prev["lastTransitionTime"]; ok {
					m["lastTransitionTime"] = ts
				}
			}
			seen[t] = true
			list = append(list, m)
		}
		if author.keepOld {
			var kept []string
			for t := range oldConds {
				if !seen[t] {
					kept = append(kept, t)
				}
			}
			sort.Strings(kept)
			for _, t := range kept {
				list = append(list, oldConds[t])
			}
		}
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
	r.rememberInstance(gvr, out)
	return nil
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
