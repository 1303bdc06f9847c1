package main

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// latencyTurns is how many different instances the latency scenario
// updates in turn.
const latencyTurns = 5

// latencyInstance is the index of the instance the j-th update of the
// latency scenario changes at size n: latencyTurns instances spread over
// the n, in turn.
func latencyInstance(j, n int) int {
	turns := min(latencyTurns, n)
	return (j % turns) * (n / turns)
}

// latencyPhase updates one instance at a time, o.latencyUpdates times in
// turn over a few, and times each from the patch until the instance is
// ACTIVE at its new generation and its ConfigMap and Deployment show the new
// value. Compared between sizes, it shows whether a reconcile gets slower
// as instances add up.
func (b *bench) latencyPhase(ctx context.Context, n int) error {
	k := b.o.latencyUpdates
	b.logf("N=%d latency: %d updates of one instance at a time, in turn over %d", n, k, min(latencyTurns, n))
	took := make([]time.Duration, 0, k)
	for j := 0; j < k; j++ {
		d, err := b.w.updateOne(ctx, n, latencyInstance(j, n), fmt.Sprintf("latency-%d", j), b.o.phaseTimeout(n))
		if err != nil {
			return err
		}
		took = append(took, d)
	}
	s := summarize(took)
	b.add(Row{Scenario: "latency", N: n,
		Measure: "one instance's update -> ACTIVE at its new generation, ConfigMap and Deployment show it, while N exist",
		Value:   s.withMax(), Target: "— (no growth with N: compare N=100)", Result: Info})
	return nil
}

// updateOne sets spec.value of instance i of size n and returns how long
// until the instance informer sees it ACTIVE at the patch's generation and
// the child informers see the value in its ConfigMap and Deployment.
func (w *workload) updateOne(ctx context.Context, n, i int, value string, timeout time.Duration) (time.Duration, error) {
	ns, name := w.ns(i), instanceName(n, i)
	patch := fmt.Appendf(nil, `{"spec":{"value":%q}}`, value)
	start := time.Now()
	out, err := w.dyn.Resource(instanceGVR).Namespace(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return 0, fmt.Errorf("patching instance %s/%s: %w", ns, name, err)
	}
	end, err := w.waitUntil(ctx, "update of "+ns+"/"+name, timeout, w.updatedCheck(ns, name, out.GetGeneration(), value))
	if err != nil {
		return 0, err
	}
	return end.Sub(start), nil
}

// updatedCheck holds when instance ns/name is ACTIVE at generation gen and
// its ConfigMap and Deployment show value. It looks three objects up by
// key: its cost does not grow with N.
func (w *workload) updatedCheck(ns, name string, gen int64, value string) func() (bool, string) {
	return func() (bool, string) {
		inst, _ := lookup[*unstructured.Unstructured](w.instances, ns+"/"+name)
		cm, _ := lookup[*corev1.ConfigMap](w.cms, ns+"/"+name+"-config")
		dep, _ := lookup[*appsv1.Deployment](w.deps, ns+"/"+name)
		active := activeAt(inst, gen)
		cmOK := cm != nil && cm.Data["value"] == value
		depOK := dep != nil && deploymentShows(dep, value)
		return active && cmOK && depOK, fmt.Sprintf("ACTIVE at generation %d %v, ConfigMap %v, Deployment %v", gen, active, cmOK, depOK)
	}
}

// lookup returns the object of store s under key, if it is a T.
func lookup[T any](s cache.Store, key string) (T, bool) {
	var zero T
	o, ok, err := s.GetByKey(key)
	if err != nil || !ok {
		return zero, false
	}
	t, ok := o.(T)
	return t, ok
}

// activeAt reports whether inst is ACTIVE and its Ready condition is True
// and was written for generation gen or later.
func activeAt(inst *unstructured.Unstructured, gen int64) bool {
	if inst == nil || !isActive(inst) {
		return false
	}
	conds, _, _ := unstructured.NestedSlice(inst.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] != "Ready" {
			continue
		}
		observed, _, _ := unstructured.NestedInt64(m, "observedGeneration")
		return m["status"] == "True" && observed >= gen
	}
	return false
}

// deploymentShows reports whether d's containers have VALUE=value.
func deploymentShows(d *appsv1.Deployment, value string) bool {
	for _, ctr := range d.Spec.Template.Spec.Containers {
		for _, e := range ctr.Env {
			if e.Name == "VALUE" && e.Value == value {
				return true
			}
		}
	}
	return false
}
