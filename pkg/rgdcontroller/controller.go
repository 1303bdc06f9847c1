// Package rgdcontroller reconciles ResourceGraphDefinitions: it compiles each
// one, registers the generated CRD, hands the graph to the instance
// reconciler and writes kro's status (state, conditions, topological order).
// A failed recompile keeps the last good graph running; deleting an RGD waits
// until its instances are gone, so none is ever orphaned.
package rgdcontroller

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/graph"
	"github.com/rgd-dev/rgd/pkg/metadata"
	"github.com/rgd-dev/rgd/pkg/metrics"
	"github.com/rgd-dev/rgd/pkg/reconciler"
	"github.com/rgd-dev/rgd/pkg/registrar"
	"github.com/rgd-dev/rgd/pkg/schemas"
	"github.com/rgd-dev/rgd/pkg/watch"
)

// Options configure the controller.
type Options struct {
	// Workers is the number of RGDs reconciled at once (default 2).
	Workers int
	// AllowCRDDeletion deletes the generated CRD with its RGD.
	AllowCRDDeletion bool
	// Logger receives logs.
	Logger logr.Logger
	// Metrics receives reconcile metrics; nil disables them.
	Metrics *metrics.Metrics
	// OnCompile, when set, is told of every compilation (for metrics).
	OnCompile func(d time.Duration, err error)
	// Recorder records a Warning event on an RGD whose reconcile failed
	// with an error its status could not carry (the API server refused a
	// write, for example); nil disables them.
	Recorder record.EventRecorder
}

// Controller reconciles ResourceGraphDefinitions.
type Controller struct {
	dyn        dynamic.Interface
	watches    *watch.Manager
	registrar  *registrar.Registrar
	instances  *reconciler.Reconciler
	resolver   schemas.Resolver
	invalidate func()
	opts       Options
	log        logr.Logger
	queue      workqueue.TypedRateLimitingInterface[string]
	cache      watch.Cache

	mu     sync.Mutex
	served map[string]*served // by RGD name
	// unresolved are RGDs whose last compile named a kind the cluster does
	// not serve yet: a new or changed CRD brings them back.
	unresolved map[string]bool
}

// errKindsPending retries an RGD whose kinds may still appear.
var errKindsPending = errors.New("some kinds are not served yet")

// served is what an RGD currently runs.
type served struct {
	gvr        schema.GroupVersionResource
	generation int64
	allowBreak string
	adopt      string
	graph      *graph.Graph
}

// New builds a controller. invalidate, when not nil, drops cached schemas
// before a compilation (CRDs may have changed).
func New(dyn dynamic.Interface, watches *watch.Manager, reg *registrar.Registrar, instances *reconciler.Reconciler,
	resolver schemas.Resolver, invalidate func(), opts Options) *Controller {
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	return &Controller{
		dyn: dyn, watches: watches, registrar: reg, instances: instances, resolver: resolver, invalidate: invalidate,
		opts: opts, log: opts.Logger.WithName("rgds"),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 60*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "rgds"}),
		served:     map[string]*served{},
		unresolved: map[string]bool{},
	}
}

// Start watches RGDs and waits for the informer to sync; Run does the work.
func (c *Controller) Start(ctx context.Context) error {
	cache, err := c.watches.Watch(ctx, "rgd-controller", watch.Key{GVR: v1alpha1.ResourceGraphDefinitionResource}, func(ev watch.Event) {
		if ev.Type == watch.Updated && ev.Old != nil && !specOrMetaChanged(ev.Old, ev.Object) {
			return
		}
		c.queue.Add(ev.Object.GetName())
	})
	if err != nil {
		return fmt.Errorf("watching ResourceGraphDefinitions: %w", err)
	}
	c.cache = cache
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	if _, err := c.watches.Watch(ctx, "rgd-controller", watch.Key{GVR: crds}, func(ev watch.Event) {
		if ev.Type == watch.Deleted {
			// A generated CRD deleted by hand: its RGD creates it again.
			if name := ev.Object.GetLabels()[metadata.LabelRGDName]; name != "" && ev.Object.GetLabels()[metadata.LabelOwned] == "true" {
				c.mu.Lock()
				if s := c.served[name]; s != nil {
					s.generation = -1 // forces a full reconcile
				}
				c.mu.Unlock()
				c.queue.Add(name)
			}
			return
		}
		c.mu.Lock()
		names := make([]string, 0, len(c.unresolved))
		for n := range c.unresolved {
			names = append(names, n)
		}
		c.mu.Unlock()
		for _, n := range names {
			c.queue.Add(n)
		}
	}); err != nil {
		return fmt.Errorf("watching CustomResourceDefinitions: %w", err)
	}
	return nil
}

func specOrMetaChanged(old, cur *unstructured.Unstructured) bool {
	return old.GetGeneration() != cur.GetGeneration() ||
		old.GetAnnotations()[metadata.AnnotationAllowBreakingChanges] != cur.GetAnnotations()[metadata.AnnotationAllowBreakingChanges] ||
		old.GetAnnotations()[metadata.AnnotationAdopt] != cur.GetAnnotations()[metadata.AnnotationAdopt] ||
		(old.GetDeletionTimestamp() == nil) != (cur.GetDeletionTimestamp() == nil) ||
		len(old.GetFinalizers()) != len(cur.GetFinalizers())
}

// Run processes RGDs until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	go func() {
		<-ctx.Done()
		c.queue.ShutDownWithDrain()
	}()
	var wg sync.WaitGroup
	for i := 0; i < c.opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.next(ctx) {
			}
		}()
	}
	wg.Wait()
}

func (c *Controller) next(ctx context.Context) bool {
	name, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(name)
	start := time.Now()
	after, err := c.safeReconcile(ctx, name)
	outcome := "success"
	switch {
	case err != nil && ctx.Err() != nil:
		// Shutting down: the pass was cut short, not failed.
		outcome = "canceled"
		c.log.V(1).Info("RGD reconcile interrupted by shutdown", "rgd", name, "error", err.Error())
	case errors.Is(err, errKindsPending):
		outcome = "requeue"
		c.queue.AddRateLimited(name)
	case err != nil:
		outcome = "error"
		c.log.Info("RGD reconcile failed; retrying with backoff", "rgd", name, "error", err.Error())
		c.queue.AddRateLimited(name)
		// A conflict is optimistic concurrency at work, not news. The
		// recorder's correlator folds the retries of one failure into one
		// event with a count.
		if c.opts.Recorder != nil && !apierrors.IsConflict(err) {
			if obj, ok := c.cache.Get("", name); ok {
				c.opts.Recorder.Eventf(obj, corev1.EventTypeWarning, "ReconcileFailed", "%v; retrying with backoff", err)
			}
		}
	case after > 0:
		outcome = "requeue"
		c.queue.Forget(name)
		c.queue.AddAfter(name, after)
	default:
		c.queue.Forget(name)
	}
	if c.opts.Metrics != nil {
		c.opts.Metrics.ObserveReconcile("rgd", time.Since(start), outcome)
	}
	return true
}

func (c *Controller) safeReconcile(ctx context.Context, name string) (after time.Duration, err error) {
	defer func() {
		if p := recover(); p != nil {
			if c.opts.Metrics != nil {
				c.opts.Metrics.Panics.WithLabelValues("rgd").Inc()
			}
			c.log.Error(fmt.Errorf("panic: %v", p), "RGD reconcile panicked", "rgd", name, "stack", string(debug.Stack()))
			err = fmt.Errorf("reconcile panicked: %v", p)
		}
	}()
	return c.reconcile(ctx, name)
}

func (c *Controller) reconcile(ctx context.Context, name string) (time.Duration, error) {
	cached, ok := c.cache.Get("", name)
	if !ok {
		return 0, nil
	}
	obj := cached.DeepCopy()
	rgd := &v1alpha1.ResourceGraphDefinition{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, rgd); err != nil {
		return 0, c.writeStatus(ctx, obj, rgd, nil, statusUpdate{accepted: cond(false, v1alpha1.ReasonInvalidResourceGraph, "decoding: "+err.Error())})
	}
	if rgd.DeletionTimestamp != nil {
		return c.finalize(ctx, obj, rgd)
	}
	if !slices.Contains(rgd.Finalizers, metadata.Finalizer) {
		if err := c.patchFinalizers(ctx, obj, append(slices.Clone(rgd.Finalizers), metadata.Finalizer)); err != nil {
			return 0, err
		}
		return 0, nil // the update event brings it back
	}

	c.mu.Lock()
	current := c.served[name]
	c.mu.Unlock()
	allowBreak := rgd.Annotations[metadata.AnnotationAllowBreakingChanges]
	adopt := rgd.Annotations[metadata.AnnotationAdopt]
	if current != nil && current.generation == rgd.Generation && current.allowBreak == allowBreak && current.adopt == adopt {
		return 0, c.writeStatus(ctx, obj, rgd, current.graph, statusUpdate{
			accepted: cond(true, v1alpha1.ReasonValid, "the graph is valid"),
			kind:     cond(true, v1alpha1.ReasonKindReady, fmt.Sprintf("kind %s has been accepted and ready", current.graph.Instance.GVK.Kind)),
			running:  cond(true, v1alpha1.ReasonRunning, "instances are being reconciled"),
		})
	}

	if c.invalidate != nil {
		c.invalidate()
	}
	start := time.Now()
	g, err := graph.Compile(ctx, rgd, graph.Options{Resolver: c.resolver})
	if c.opts.OnCompile != nil {
		c.opts.OnCompile(time.Since(start), err)
	}
	if err != nil {
		msg := err.Error()
		if current != nil {
			msg += fmt.Sprintf(" (the last valid graph, of generation %d, keeps running)", current.generation)
		}
		if werr := c.writeStatus(ctx, obj, rgd, nil, statusUpdate{accepted: cond(false, v1alpha1.ReasonInvalidResourceGraph, msg)}); werr != nil {
			return 0, werr
		}
		c.mu.Lock()
		unknownKind := strings.Contains(msg, "unknown kind")
		if unknownKind {
			c.unresolved[name] = true
		} else {
			delete(c.unresolved, name)
		}
		c.mu.Unlock()
		if unknownKind {
			// A CRD created moments ago is served before its schema is
			// published: retry with backoff, and on every CRD change.
			return 0, errKindsPending
		}
		return 0, nil
	}
	c.mu.Lock()
	delete(c.unresolved, name)
	c.mu.Unlock()
	owner := registrar.Owner{Name: rgd.Name, UID: rgd.UID, AllowBreakingChanges: allowBreak == "true"}
	if _, err := c.registrar.Ensure(ctx, g.CRD, owner); err != nil {
		msg := err.Error()
		var breaking *registrar.BreakingChangeError
		if errors.As(err, &breaking) {
			msg += fmt.Sprintf(" (annotate the ResourceGraphDefinition %s: \"true\" to allow it)", metadata.AnnotationAllowBreakingChanges)
		}
		if current != nil {
			msg += fmt.Sprintf("; the graph of generation %d keeps running", current.generation)
		}
		st := statusUpdate{accepted: cond(true, v1alpha1.ReasonValid, "the graph is valid"), kind: cond(false, v1alpha1.ReasonFailed, msg)}
		if werr := c.writeStatus(ctx, obj, rgd, g, st); werr != nil {
			return 0, werr
		}
		if errors.Is(err, registrar.ErrNotOwned) || errors.Is(err, registrar.ErrOwnedByOther) || breaking != nil {
			return 0, nil // needs a human; the next RGD change retries
		}
		return 0, err
	}
	if current != nil && current.gvr != g.Instance.Resource {
		c.instances.Deregister(current.gvr)
	}
	if err := c.instances.Register(ctx, reconciler.Kind{Graph: g, RGDName: rgd.Name, RGDUID: rgd.UID, AdoptExisting: adopt == "true"}); err != nil {
		st := statusUpdate{
			accepted: cond(true, v1alpha1.ReasonValid, "the graph is valid"),
			kind:     cond(true, v1alpha1.ReasonKindReady, fmt.Sprintf("kind %s has been accepted and ready", g.Instance.GVK.Kind)),
			running:  cond(false, v1alpha1.ReasonFailedToStart, err.Error()),
		}
		if werr := c.writeStatus(ctx, obj, rgd, g, st); werr != nil {
			return 0, werr
		}
		return 0, err
	}
	c.mu.Lock()
	c.served[name] = &served{gvr: g.Instance.Resource, generation: rgd.Generation, allowBreak: allowBreak, adopt: adopt, graph: g}
	c.mu.Unlock()
	return 0, c.writeStatus(ctx, obj, rgd, g, statusUpdate{
		accepted: cond(true, v1alpha1.ReasonValid, "the graph is valid"),
		kind:     cond(true, v1alpha1.ReasonKindReady, fmt.Sprintf("kind %s has been accepted and ready", g.Instance.GVK.Kind)),
		running:  cond(true, v1alpha1.ReasonRunning, "instances are being reconciled"),
	})
}

// InstanceGone enqueues the RGD serving gvr, whose deletion may be waiting
// for its last instance.
func (c *Controller) InstanceGone(gvr schema.GroupVersionResource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, s := range c.served {
		if s.gvr == gvr {
			c.queue.Add(name)
		}
	}
}

// finalize lets an RGD go once it has no instances left: by default the
// deletion waits, and the status says how many remain.
func (c *Controller) finalize(ctx context.Context, obj *unstructured.Unstructured, rgd *v1alpha1.ResourceGraphDefinition) (time.Duration, error) {
	if !slices.Contains(rgd.Finalizers, metadata.Finalizer) {
		return 0, nil
	}
	c.mu.Lock()
	current := c.served[rgd.Name]
	c.mu.Unlock()
	if current != nil {
		if n, ok := c.instances.Instances(current.gvr); ok && n > 0 {
			msg := fmt.Sprintf("deletion waits for %d instance(s) of %s to be deleted first", n, current.graph.Instance.GVK.Kind)
			err := c.writeStatus(ctx, obj, rgd, current.graph, statusUpdate{
				accepted: cond(true, v1alpha1.ReasonValid, "the graph is valid"),
				kind:     cond(true, v1alpha1.ReasonKindReady, fmt.Sprintf("kind %s has been accepted and ready", current.graph.Instance.GVK.Kind)),
				running:  cond(false, "DeletionBlocked", msg),
			})
			// InstanceGone brings the RGD back when an instance goes; the
			// requeue is a safety net for instances deleted while the
			// engine was down.
			return 30 * time.Second, err
		}
		c.instances.Deregister(current.gvr)
		if c.opts.AllowCRDDeletion {
			err := c.registrar.Delete(ctx, current.graph.CRD.Name, registrar.Owner{Name: rgd.Name, UID: rgd.UID})
			if err != nil {
				return 0, err
			}
		}
		c.mu.Lock()
		delete(c.served, rgd.Name)
		c.mu.Unlock()
	}
	rest := slices.DeleteFunc(slices.Clone(rgd.Finalizers), func(f string) bool { return f == metadata.Finalizer })
	return 0, c.patchFinalizers(ctx, obj, rest)
}

func (c *Controller) patchFinalizers(ctx context.Context, obj *unstructured.Unstructured, finalizers []string) error {
	patch := fmt.Sprintf(`{"metadata":{"resourceVersion":%q,"finalizers":%s}}`, obj.GetResourceVersion(), jsonList(finalizers))
	_, err := c.dyn.Resource(v1alpha1.ResourceGraphDefinitionResource).Patch(ctx, obj.GetName(), types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

func jsonList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(quoted, ",") + "]"
}

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

// writeStatus writes kro's status for an RGD, only when it changed.
func (c *Controller) writeStatus(ctx context.Context, obj *unstructured.Unstructured, rgd *v1alpha1.ResourceGraphDefinition, g *graph.Graph, st statusUpdate) error {
	status := rgd.Status.DeepCopy()
	now := metav1.Now()
	set := func(t v1alpha1.ConditionType, u conditionUpdate) {
		if !u.set {
			u = conditionUpdate{reason: "Pending", message: "waiting for the steps before it"}
		}
		s := metav1.ConditionFalse
		if u.ok {
			s = metav1.ConditionTrue
		}
		reason, message := u.reason, u.message
		for i := range status.Conditions {
			cd := &status.Conditions[i]
			if cd.Type != t {
				continue
			}
			if cd.Status != s {
				cd.LastTransitionTime = &now
			}
			cd.Status, cd.Reason, cd.Message, cd.ObservedGeneration = s, &reason, &message, rgd.Generation
			return
		}
		status.Conditions = append(status.Conditions, v1alpha1.Condition{Type: t, Status: s, Reason: &reason, Message: &message,
			LastTransitionTime: &now, ObservedGeneration: rgd.Generation})
	}
	set(v1alpha1.ConditionGraphAccepted, st.accepted)
	set(v1alpha1.ConditionKindReady, st.kind)
	set(v1alpha1.ConditionControllerReady, st.running)
	ready := st.accepted.ok && st.kind.ok && st.running.ok && st.accepted.set && st.kind.set && st.running.set
	readyUpdate := cond(true, "Ready", "the graph is served")
	if !ready {
		for _, u := range []conditionUpdate{st.accepted, st.kind, st.running} {
			if !u.ok {
				readyUpdate = cond(false, u.reason, u.message)
				if !u.set {
					readyUpdate = cond(false, "Pending", "waiting for the steps before it")
				}
				break
			}
		}
	}
	set(v1alpha1.ConditionReady, readyUpdate)
	status.State = v1alpha1.StateInactive
	if ready {
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
	if equalStatus(&rgd.Status, status) {
		return nil
	}
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(status)
	if err != nil {
		return err
	}
	out := obj.DeepCopy()
	out.Object["status"] = raw
	_, err = c.dyn.Resource(v1alpha1.ResourceGraphDefinitionResource).UpdateStatus(ctx, out, metav1.UpdateOptions{FieldManager: metadata.FieldManagerController})
	return err
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
