package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// roleLabel marks every object of the benchmark: "instance" on the engine's
// children (set by the RGD's templates), "floor" on the objects the harness
// creates directly.
const roleLabel = "bench.rgd.dev/role"

// workload drives the client side of the benchmark and watches its objects.
type workload struct {
	cs          kubernetes.Interface
	dyn         dynamic.Interface
	namespaces  []string
	concurrency int
	progress    io.Writer
	// impersonate makes the RGD name writerSA (--impersonate).
	impersonate bool

	notify                     chan struct{}
	cms, sas, deps, svcs, pods cache.Store
	instances                  cache.Store
	active                     *tally
	stopInformers              context.CancelFunc
	// stopChildren stops the child and pod informers; nil when they do not
	// run.
	stopChildren context.CancelFunc
}

func (w *workload) ns(i int) string { return w.namespaces[i%len(w.namespaces)] }

func (w *workload) logf(format string, args ...any) {
	fmt.Fprintf(w.progress, "bench: "+format+"\n", args...)
}

// createNamespaces creates the namespaces (existing ones are fine).
func (w *workload) createNamespaces(ctx context.Context) error {
	for _, ns := range w.namespaces {
		if err := ensureNamespace(ctx, w.cs, ns); err != nil {
			return err
		}
	}
	return nil
}

// parallel runs fn for 0..n-1 on w.concurrency goroutines; the first error stops it.
func (w *workload) parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(w.concurrency)
	for i := 0; i < n; i++ {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error { return fn(ctx, i) })
	}
	return g.Wait()
}

func instanceName(n, i int) string { return fmt.Sprintf("n%d-%d", n, i) }

// createInstances creates n instances and waits until all are ACTIVE.
func (w *workload) createInstances(ctx context.Context, n int, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	err := w.parallel(ctx, n, func(ctx context.Context, i int) error {
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "kro.run/v1alpha1", "kind": "BenchApp",
			"metadata": map[string]any{"name": instanceName(n, i), "namespace": w.ns(i)},
			"spec":     map[string]any{"value": "v1"},
		}}
		_, err := w.dyn.Resource(instanceGVR).Namespace(w.ns(i)).Create(ctx, obj, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("creating instances: %w", err)
	}
	w.logf("  %d instances created after %s", n, Seconds(time.Since(start)))
	end, err := w.waitUntil(ctx, "instances ACTIVE", timeout, func() (bool, string) {
		active := w.active.count()
		return active >= n, fmt.Sprintf("%d/%d ACTIVE", active, n)
	})
	if err != nil {
		return 0, err
	}
	return end.Sub(start), nil
}

// updateInstances sets spec.value on every instance and waits until every
// ConfigMap and Deployment shows it.
func (w *workload) updateInstances(ctx context.Context, n int, value string, timeout time.Duration) (time.Duration, error) {
	patch := []byte(fmt.Sprintf(`{"spec":{"value":%q}}`, value))
	start := time.Now()
	err := w.parallel(ctx, n, func(ctx context.Context, i int) error {
		_, err := w.dyn.Resource(instanceGVR).Namespace(w.ns(i)).Patch(ctx, instanceName(n, i), "application/merge-patch+json", patch, metav1.PatchOptions{})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("patching instances: %w", err)
	}
	end, err := w.waitUntil(ctx, "update propagated", timeout, func() (bool, string) {
		c := count(w.cms, "instance", func(cm *corev1.ConfigMap) bool { return cm.Data["value"] == value })
		d := count(w.deps, "instance", func(d *appsv1.Deployment) bool { return deploymentShows(d, value) })
		return c >= n && d >= n, fmt.Sprintf("%d/%d ConfigMaps, %d/%d Deployments updated", c, n, d, n)
	})
	if err != nil {
		return 0, err
	}
	return end.Sub(start), nil
}

// deleteInstances deletes every instance and waits until every child and
// every instance is gone.
func (w *workload) deleteInstances(ctx context.Context, n int, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	err := w.parallel(ctx, n, func(ctx context.Context, i int) error {
		err := w.dyn.Resource(instanceGVR).Namespace(w.ns(i)).Delete(ctx, instanceName(n, i), metav1.DeleteOptions{})
		if isNotFound(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("deleting instances: %w", err)
	}
	end, err := w.waitUntil(ctx, "instances deleted", timeout, func() (bool, string) {
		left, instances := w.childrenLeft("instance"), len(w.instances.ListKeys())
		return left == 0 && instances == 0, fmt.Sprintf("%d children and %d instances left", left, instances)
	})
	if err != nil {
		return 0, err
	}
	return end.Sub(start), nil
}

func (w *workload) childrenLeft(role string) int {
	return count[*corev1.ConfigMap](w.cms, role, nil) + count[*corev1.ServiceAccount](w.sas, role, nil) +
		count[*appsv1.Deployment](w.deps, role, nil) + count[*corev1.Service](w.svcs, role, nil)
}

// settledCheck holds when every instance Deployment is available (with kwok)
// and every instance shows it in status.availableReplicas.
func (w *workload) settledCheck(n int, kwok bool) func() (bool, string) {
	return func() (bool, string) {
		if !kwok {
			return true, ""
		}
		avail := count(w.deps, "instance", func(d *appsv1.Deployment) bool { return d.Status.AvailableReplicas >= 1 })
		shown := 0
		for _, o := range w.instances.List() {
			u := o.(*unstructured.Unstructured)
			if v, ok, _ := unstructured.NestedInt64(u.Object, "status", "availableReplicas"); ok && v >= 1 {
				shown++
			}
		}
		return avail >= n && shown >= n, fmt.Sprintf("%d/%d Deployments available, %d/%d instances show it", avail, n, shown, n)
	}
}
