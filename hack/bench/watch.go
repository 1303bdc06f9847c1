package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// startInformers watches the instances, for the whole run.
func (w *workload) startInformers(ctx context.Context) {
	ctx, w.stopInformers = context.WithCancel(ctx)
	w.notify = make(chan struct{}, 1)
	df := dynamicinformer.NewDynamicSharedInformerFactory(w.dyn, 0)
	ii := df.ForResource(instanceGVR).Informer()
	_ = ii.SetTransform(stripManagedFields)
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
		// managedFields are most of a small object's size, and nothing
		// here reads them: at N=10,000 the harness caches 40,000 children.
		_ = inf.inf.SetTransform(stripManagedFields)
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

// waitUntil re-checks cond after watch events until it holds, and returns
// when it first held. Progress is printed every two seconds. A check is
// followed by a pause of checkPause of its own duration before the next, so
// that a condition that counts over the informers' stores (O(N)) costs the
// harness at most a tenth of a core whatever N, instead of a check per event
// (O(N) events: quadratic), and the end is seen at most that pause late
// (microseconds at N=100, tens of milliseconds at N=10,000).
func (w *workload) waitUntil(ctx context.Context, what string, timeout time.Duration, cond func() (bool, string)) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		at := time.Now()
		ok, state := cond()
		if ok {
			return at, nil
		}
		pause := checkPause(time.Since(at))
		select {
		case <-w.notify:
		case <-tick.C:
			w.logf("  %s: %s", what, state)
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%s: not done after %s (%s): %w", what, timeout, state, ctx.Err())
		}
		if err := pauseFor(ctx, pause); err != nil {
			return time.Time{}, fmt.Errorf("%s: not done after %s (%s): %w", what, timeout, state, err)
		}
	}
}

// checkPause is the least time between two checks of a wait's condition
// after a check that took took: nine times as long, so that checking takes
// at most a tenth of the time.
func checkPause(took time.Duration) time.Duration { return 9 * took }

// pauseFor waits d, or until ctx ends.
func pauseFor(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
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

// stripManagedFields is an informer transform that drops an object's
// managedFields before it is cached.
func stripManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
