package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/yaml"
)

// roleLabel marks every object of the benchmark: "instance" on the engine's
// children (set by the RGD's templates), "floor" on the objects the harness
// creates directly.
const roleLabel = "bench.rgd.dev/role"

// benchRGD is the RGD under test: a ConfigMap and a ServiceAccount, a
// Deployment naming both, a Service named after the Deployment; status from
// two children. spec.value lands in the ConfigMap and in the Deployment's env.
const benchRGD = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: benchapp
spec:
  schema:
    apiVersion: v1alpha1
    kind: BenchApp
    spec:
      value: string | default="v1"
      image: string | default="registry.k8s.io/pause:3.10"
    status:
      availableReplicas: ${deployment.status.availableReplicas}
      clusterIP: ${service.spec.clusterIP}
  resources:
    - id: config
      template:
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: ${schema.metadata.name}-config
          labels:
            bench.rgd.dev/role: instance
        data:
          value: ${schema.spec.value}
    - id: account
      template:
        apiVersion: v1
        kind: ServiceAccount
        metadata:
          name: ${schema.metadata.name}-sa
          labels:
            bench.rgd.dev/role: instance
    - id: deployment
      template:
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: ${schema.metadata.name}
          labels:
            bench.rgd.dev/role: instance
        spec:
          replicas: 1
          selector:
            matchLabels:
              app: ${schema.metadata.name}
          template:
            metadata:
              labels:
                app: ${schema.metadata.name}
                bench.rgd.dev/role: instance
            spec:
              serviceAccountName: ${account.metadata.name}
              containers:
                - name: app
                  image: ${schema.spec.image}
                  env:
                    - name: VALUE
                      value: ${schema.spec.value}
                  envFrom:
                    - configMapRef:
                        name: ${config.metadata.name}
    - id: service
      template:
        apiVersion: v1
        kind: Service
        metadata:
          name: ${deployment.metadata.name}
          labels:
            bench.rgd.dev/role: instance
        spec:
          selector:
            app: ${deployment.metadata.name}
          ports:
            - port: 80
              targetPort: 8080
`

var (
	rgdGVR      = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "resourcegraphdefinitions"}
	crdGVR      = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	instanceGVR = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "benchapps"}
)

const podImage = "registry.k8s.io/pause:3.10"

// workload drives the client side of the benchmark and watches its objects.
type workload struct {
	cs          kubernetes.Interface
	dyn         dynamic.Interface
	namespaces  []string
	concurrency int
	progress    io.Writer

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
		_, err := w.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !isAlreadyExists(err) {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
	}
	return nil
}

// applyRGD creates the RGD and returns how long it took, from the create's
// answer, until the RGD was Active and its kind served. The create itself is
// not timed: the engine installed the RGD CRD moments before, and the API
// server holds every create of a kind for 2 s once its CRD has just become
// Established (see waitCreatesServed), which a cluster whose RGD CRD is older
// does not do.
func (w *workload) applyRGD(ctx context.Context) (time.Duration, error) {
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(benchRGD), &obj.Object); err != nil {
		return 0, fmt.Errorf("the benchmark RGD: %w", err)
	}
	if _, err := w.dyn.Resource(rgdGVR).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		return 0, fmt.Errorf("creating RGD benchapp: %w", err)
	}
	start := time.Now()
	err := poll(ctx, 2*time.Minute, func() (bool, error) {
		got, err := w.dyn.Resource(rgdGVR).Get(ctx, "benchapp", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		state, _, _ := unstructured.NestedString(got.Object, "status", "state")
		if state != "Active" {
			return false, nil
		}
		_, err = w.dyn.Resource(instanceGVR).List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil, nil
	})
	if err != nil {
		return 0, fmt.Errorf("RGD benchapp did not become Active with its kind served: %w", err)
	}
	took := time.Since(start)
	return took, w.waitCreatesServed(ctx, instanceGVR.GroupResource().String())
}

// createHold is how long kube-apiserver holds a create of a custom resource
// after its CRD became Established (customresource_handler.go: so that, with
// several API servers, the others have seen the CRD before a follow-up
// request reaches them). Patches, server-side applies included, are not held.
const createHold = 2 * time.Second

// waitCreatesServed returns once creates of the CRD's kind are no longer held,
// so that the timed phases measure the engine, not the API server's hold. The
// server compares with the Established condition's lastTransitionTime, in
// whole seconds, as this does.
func (w *workload) waitCreatesServed(ctx context.Context, crdName string) error {
	crd, err := w.dyn.Resource(crdGVR).Get(ctx, crdName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading CRD %s: %w", crdName, err)
	}
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] != "Established" || m["status"] != "True" {
			continue
		}
		since, err := time.Parse(time.RFC3339, fmt.Sprint(m["lastTransitionTime"]))
		if err != nil {
			return fmt.Errorf("CRD %s: Established at %v: %w", crdName, m["lastTransitionTime"], err)
		}
		wait := time.Until(since.Add(createHold))
		if wait <= 0 {
			return nil
		}
		w.logf("waiting %.1f s: the API server holds creates of a kind for %s after its CRD is established", wait.Seconds(), createHold)
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		}
	}
	return fmt.Errorf("CRD %s is not Established", crdName)
}

// startInformers watches the instances, for the whole run.
func (w *workload) startInformers(ctx context.Context) {
	ctx, w.stopInformers = context.WithCancel(ctx)
	w.notify = make(chan struct{}, 1)
	df := dynamicinformer.NewDynamicSharedInformerFactory(w.dyn, 0)
	ii := df.ForResource(instanceGVR).Informer()
	w.active = &tally{in: map[string]bool{}}
	// The tally is kept before the poke, so a woken waiter sees the event.
	_, _ = ii.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.active.set(o, isActive(o)); w.poke() },
		UpdateFunc: func(_, o any) { w.active.set(o, isActive(o)); w.poke() },
		DeleteFunc: func(o any) { w.active.set(o, false); w.poke() },
	})
	w.instances = ii.GetStore()
	df.Start(ctx.Done())
	df.WaitForCacheSync(ctx.Done())
}

// watchChildren watches the labelled children and their pods until
// stopWatchingChildren, and returns once the caches hold them. The timed create
// and floor phases run without these informers: what they wait for needs
// none of them, and decoding every child's and pod's events cost the bench
// client about 2 CPU-seconds of a 14 s create phase at N=500, on the same two
// cores as the engine and the API server.
func (w *workload) watchChildren(ctx context.Context) {
	if w.stopChildren != nil {
		return
	}
	ctx, w.stopChildren = context.WithCancel(ctx)
	f := informers.NewSharedInformerFactoryWithOptions(w.cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = roleLabel
	}))
	for _, inf := range []struct {
		store *cache.Store
		inf   cache.SharedIndexInformer
	}{
		{&w.cms, f.Core().V1().ConfigMaps().Informer()},
		{&w.sas, f.Core().V1().ServiceAccounts().Informer()},
		{&w.deps, f.Apps().V1().Deployments().Informer()},
		{&w.svcs, f.Core().V1().Services().Informer()},
		{&w.pods, f.Core().V1().Pods().Informer()},
	} {
		_, _ = inf.inf.AddEventHandler(w.pokeHandler())
		*inf.store = inf.inf.GetStore()
	}
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
}

// stopWatchingChildren stops the informers of watchChildren, if they run.
func (w *workload) stopWatchingChildren() {
	if w.stopChildren != nil {
		w.stopChildren()
		w.stopChildren = nil
	}
}

func (w *workload) pokeHandler() cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { w.poke() },
		UpdateFunc: func(any, any) { w.poke() },
		DeleteFunc: func(any) { w.poke() },
	}
}

// tally counts the instances whose state is ACTIVE as the informer's events
// arrive, so that the create phase's wait, which runs after every event,
// costs the same at N=2000 as at N=100 (counting over the store made it
// quadratic).
type tally struct {
	mu sync.Mutex
	in map[string]bool // the keys of the ACTIVE instances
}

func (t *tally) set(obj any, active bool) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if active {
		t.in[key] = true
	} else {
		delete(t.in, key)
	}
}

func (t *tally) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.in)
}

func isActive(obj any) bool {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return false
	}
	state, _, _ := unstructured.NestedString(u.Object, "status", "state")
	return state == "ACTIVE"
}

func (w *workload) poke() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// waitUntil re-checks cond after every watch event until it holds, and
// returns when it first held. Progress is printed every two seconds.
func (w *workload) waitUntil(ctx context.Context, what string, timeout time.Duration, cond func() (bool, string)) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		ok, state := cond()
		if ok {
			return time.Now(), nil
		}
		select {
		case <-w.notify:
		case <-tick.C:
			w.logf("  %s: %s", what, state)
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%s: not done after %s (%s): %w", what, timeout, state, ctx.Err())
		}
	}
}

// count counts the objects in s whose role label is role and that match keep.
func count[T metav1.Object](s cache.Store, role string, keep func(T) bool) int {
	n := 0
	for _, o := range s.List() {
		t, ok := o.(T)
		if !ok || t.GetLabels()[roleLabel] != role {
			continue
		}
		if keep == nil || keep(t) {
			n++
		}
	}
	return n
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
		d := count(w.deps, "instance", func(d *appsv1.Deployment) bool {
			for _, ctr := range d.Spec.Template.Spec.Containers {
				for _, e := range ctr.Env {
					if e.Name == "VALUE" && e.Value == value {
						return true
					}
				}
			}
			return false
		})
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
		left := w.childrenLeft("instance")
		return left == 0 && len(w.instances.List()) == 0,
			fmt.Sprintf("%d children and %d instances left", left, len(w.instances.List()))
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

// floorObjects are the four children of instance i, created directly.
func floorObjects(ns string, i int) (*corev1.ConfigMap, *corev1.ServiceAccount, *appsv1.Deployment, *corev1.Service) {
	name := fmt.Sprintf("floor-%d", i)
	meta := func(n string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: n, Namespace: ns, Labels: map[string]string{roleLabel: "floor"}}
	}
	one := int32(1)
	cm := &corev1.ConfigMap{ObjectMeta: meta(name + "-config"), Data: map[string]string{"value": "v1"}}
	sa := &corev1.ServiceAccount{ObjectMeta: meta(name + "-sa")}
	dep := &appsv1.Deployment{
		ObjectMeta: meta(name),
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name, roleLabel: "floor"}},
				Spec: corev1.PodSpec{
					ServiceAccountName: sa.Name,
					Containers: []corev1.Container{{
						Name: "app", Image: podImage,
						Env:     []corev1.EnvVar{{Name: "VALUE", Value: "v1"}},
						EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm.Name}}}},
					}},
				},
			},
		},
	}
	svc := &corev1.Service{
		ObjectMeta: meta(name),
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	return cm, sa, dep, svc
}

// floor creates the 4n children directly, 4n creates on w.concurrency
// workers, and returns the time until the last create returned and the CPU
// that cpuNow saw used meanwhile. It then deletes them again and waits
// (untimed) until they and their pods are gone.
func (w *workload) floor(ctx context.Context, n int, cleanupTimeout time.Duration, cpuNow func() cpuTimes) (time.Duration, cpuTimes, error) {
	cpu0 := cpuNow()
	start := time.Now()
	err := w.parallel(ctx, 4*n, func(ctx context.Context, k int) error {
		i := k / 4
		ns := w.ns(i)
		cm, sa, dep, svc := floorObjects(ns, i)
		var err error
		switch k % 4 {
		case 0:
			_, err = w.cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
		case 1:
			_, err = w.cs.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{})
		case 2:
			_, err = w.cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{})
		case 3:
			_, err = w.cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
		}
		return err
	})
	took := time.Since(start)
	cpu := cpuNow().sub(cpu0)
	if err != nil {
		return 0, nil, fmt.Errorf("floor: creating objects: %w", err)
	}
	w.watchChildren(ctx)
	defer w.stopWatchingChildren()
	return took, cpu, w.deleteFloor(ctx, cleanupTimeout)
}

// deleteFloor removes the floor's objects and waits until they and their
// pods are gone.
func (w *workload) deleteFloor(ctx context.Context, timeout time.Duration) error {
	sel := metav1.ListOptions{LabelSelector: roleLabel + "=floor"}
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}
	for _, ns := range w.namespaces {
		for _, err := range []error{
			w.cs.CoreV1().ConfigMaps(ns).DeleteCollection(ctx, del, sel),
			w.cs.CoreV1().ServiceAccounts(ns).DeleteCollection(ctx, del, sel),
			w.cs.AppsV1().Deployments(ns).DeleteCollection(ctx, del, sel),
			deleteServices(ctx, w.cs, ns, sel),
		} {
			if err != nil {
				return fmt.Errorf("floor: deleting objects in %s: %w", ns, err)
			}
		}
	}
	_, err := w.waitUntil(ctx, "floor cleanup", timeout, func() (bool, string) {
		left := w.childrenLeft("floor")
		pods := count[*corev1.Pod](w.pods, "floor", nil)
		return left == 0 && pods == 0, fmt.Sprintf("%d objects and %d pods left", left, pods)
	})
	return err
}

// deleteServices deletes the selected Services one by one (Services have no
// delete-collection endpoint).
func deleteServices(ctx context.Context, cs kubernetes.Interface, ns string, sel metav1.ListOptions) error {
	list, err := cs.CoreV1().Services(ns).List(ctx, sel)
	if err != nil {
		return err
	}
	for _, s := range list.Items {
		if err := cs.CoreV1().Services(ns).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !isNotFound(err) {
			return err
		}
	}
	return nil
}

// poll calls check every 200 ms until it returns true or an error, or the
// timeout passes.
func poll(ctx context.Context, timeout time.Duration, check func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := check()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
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
