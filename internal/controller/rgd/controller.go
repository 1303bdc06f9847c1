package rgd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/record"

	"github.com/rgd-dev/rgd/internal/controller/instance"
	"github.com/rgd-dev/rgd/internal/metrics"
	"github.com/rgd-dev/rgd/internal/reconcile"
	"github.com/rgd-dev/rgd/internal/registrar"
	"github.com/rgd-dev/rgd/internal/watch"
	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/graph"
	"github.com/rgd-dev/rgd/pkg/metadata"
	"github.com/rgd-dev/rgd/pkg/schemas"
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
	// MaxRetryDelay caps the exponential backoff of an RGD whose reconcile
	// failed with an error that may heal (default 30 s).
	MaxRetryDelay time.Duration
}

// Controller reconciles ResourceGraphDefinitions.
type Controller struct {
	dyn        dynamic.Interface
	watches    *watch.Manager
	registrar  *registrar.Registrar
	instances  *instance.Reconciler
	resolver   schemas.Resolver
	invalidate func()
	opts       Options
	log        logr.Logger
	loop       *reconcile.Loop[string]
	cache      watch.Cache
	crds       watch.Cache

	mu     sync.Mutex
	served map[string]*served // by RGD name
	// unresolved are RGDs whose last compile named a kind the cluster does
	// not serve yet: a new or changed CRD brings them back.
	unresolved map[string]bool
}

// served is what an RGD currently runs. A nil graph means that no
// compilation has succeeded in this process: the instances of the kind the
// RGD's CRD serves are then only finalized (see serveDeletions).
type served struct {
	gvr        schema.GroupVersionResource
	kind       string
	generation int64
	allowBreak string
	adopt      string
	graph      *graph.Graph
}

// New builds a controller. invalidate, when not nil, drops cached schemas
// before a compilation (CRDs may have changed).
func New(dyn dynamic.Interface, watches *watch.Manager, reg *registrar.Registrar, instances *instance.Reconciler,
	resolver schemas.Resolver, invalidate func(), opts Options) *Controller {
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	c := &Controller{
		dyn: dyn, watches: watches, registrar: reg, instances: instances, resolver: resolver, invalidate: invalidate,
		opts: opts, log: opts.Logger.WithName("rgds"),
		served:     map[string]*served{},
		unresolved: map[string]bool{},
	}
	c.loop = reconcile.New(c.reconcile, reconcile.Options[string]{
		Name:      "rgd",
		Workers:   opts.Workers,
		BaseDelay: 50 * time.Millisecond,
		MaxDelay:  opts.MaxRetryDelay,
		Logger:    c.log,
		Metrics:   opts.Metrics,
		OnError:   c.reportFailure,
	})
	return c
}

// reportFailure records a Warning event on an RGD whose reconcile failed
// (the recorder's correlator folds the retries of one failure into one
// event with a count).
func (c *Controller) reportFailure(name string, err error) {
	if c.opts.Recorder == nil || c.cache == nil {
		return
	}
	obj, ok := c.cache.Get("", name)
	if !ok {
		return
	}
	next := "retrying with backoff"
	if reconcile.IsTerminal(err) {
		next = "waiting for the ResourceGraphDefinition to change"
	}
	c.opts.Recorder.Eventf(obj, corev1.EventTypeWarning, "ReconcileFailed", "%v; %s", err, next)
}

// Start watches RGDs and waits for the informer to sync; Run does the work.
func (c *Controller) Start(ctx context.Context) error {
	cache, err := c.watches.Watch(ctx, "rgd-controller", watch.Key{GVR: v1alpha1.ResourceGraphDefinitionResource}, func(ev watch.Event) {
		if ev.Type == watch.Updated && ev.Old != nil && !specOrMetaChanged(ev.Old, ev.Object) {
			return
		}
		c.loop.Add(ev.Object.GetName())
	})
	if err != nil {
		return fmt.Errorf("watching ResourceGraphDefinitions: %w", err)
	}
	c.cache = cache
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	if c.crds, err = c.watches.Watch(ctx, "rgd-controller", watch.Key{GVR: crds}, func(ev watch.Event) {
		if ev.Type == watch.Deleted {
			// A generated CRD deleted by hand: its RGD creates it again.
			if name := ev.Object.GetLabels()[metadata.LabelRGDName]; name != "" && ev.Object.GetLabels()[metadata.LabelOwned] == "true" {
				c.mu.Lock()
				if s := c.served[name]; s != nil {
					s.generation = -1 // forces a full reconcile
				}
				c.mu.Unlock()
				c.loop.Add(name)
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
			c.loop.Add(n)
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
func (c *Controller) Run(ctx context.Context) { c.loop.Run(ctx) }

func (c *Controller) reconcile(ctx context.Context, name string) (reconcile.Result, error) {
	cached, ok := c.cache.Get("", name)
	if !ok {
		return reconcile.Result{}, nil
	}
	obj := cached.DeepCopy()
	rgd := &v1alpha1.ResourceGraphDefinition{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, rgd); err != nil {
		return reconcile.Result{}, c.writeStatus(ctx, obj, rgd, nil, statusUpdate{accepted: cond(false, v1alpha1.ReasonInvalidResourceGraph, "decoding: "+err.Error())})
	}
	if rgd.DeletionTimestamp != nil {
		return c.finalize(ctx, obj, rgd)
	}
	if !slices.Contains(rgd.Finalizers, metadata.Finalizer) {
		// The update event brings it back.
		return reconcile.Result{}, c.patchFinalizers(ctx, obj, append(slices.Clone(rgd.Finalizers), metadata.Finalizer))
	}

	c.mu.Lock()
	current := c.served[name]
	c.mu.Unlock()
	allowBreak := rgd.Annotations[metadata.AnnotationAllowBreakingChanges]
	adopt := rgd.Annotations[metadata.AnnotationAdopt]
	if current != nil && current.graph != nil && current.generation == rgd.Generation && current.allowBreak == allowBreak && current.adopt == adopt {
		return reconcile.Result{}, c.writeStatus(ctx, obj, rgd, current.graph, servingStatus(current.graph))
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
		return reconcile.Result{}, c.compileFailed(ctx, obj, rgd, current, err)
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
		if current != nil && current.graph != nil {
			msg += fmt.Sprintf("; the graph of generation %d keeps running", current.generation)
		}
		st := statusUpdate{accepted: cond(true, v1alpha1.ReasonValid, "the graph is valid"), kind: cond(false, v1alpha1.ReasonFailed, msg)}
		if werr := c.writeStatus(ctx, obj, rgd, g, st); werr != nil {
			return reconcile.Result{}, werr
		}
		if errors.Is(err, registrar.ErrNotOwned) || errors.Is(err, registrar.ErrOwnedByOther) || breaking != nil {
			return reconcile.Result{}, reconcile.Terminal(err) // needs a human; the next RGD change retries
		}
		return reconcile.Result{}, err
	}
	if current != nil && current.gvr != g.Instance.Resource {
		c.instances.Deregister(current.gvr)
	}
	if err := c.instances.Register(ctx, instance.Kind{Graph: g, RGDName: rgd.Name, RGDUID: rgd.UID, AdoptExisting: adopt == "true"}); err != nil {
		st := servingStatus(g)
		st.running = cond(false, v1alpha1.ReasonFailedToStart, err.Error())
		if werr := c.writeStatus(ctx, obj, rgd, g, st); werr != nil {
			return reconcile.Result{}, werr
		}
		return reconcile.Result{}, err
	}
	c.mu.Lock()
	c.served[name] = &served{gvr: g.Instance.Resource, kind: g.Instance.GVK.Kind, generation: rgd.Generation, allowBreak: allowBreak, adopt: adopt, graph: g}
	c.mu.Unlock()
	return reconcile.Result{}, c.writeStatus(ctx, obj, rgd, g, servingStatus(g))
}

// servingStatus is the status of an RGD whose graph g is served.
func servingStatus(g *graph.Graph) statusUpdate {
	return statusUpdate{
		accepted: cond(true, v1alpha1.ReasonValid, "the graph is valid"),
		kind:     cond(true, v1alpha1.ReasonKindReady, fmt.Sprintf("kind %s has been accepted and ready", g.Instance.GVK.Kind)),
		running:  cond(true, v1alpha1.ReasonRunning, "instances are being reconciled"),
	}
}

// reasonSchemaUnavailable is the GraphAccepted reason of an RGD whose
// compilation could not look up a schema: nothing is known to be wrong
// with the RGD.
const reasonSchemaUnavailable = "SchemaUnavailable"

// compileFailed handles a failed compilation. What follows depends on whose
// fault it is, told by the errors' codes:
//   - a schema lookup failed (the API server's fault, not the RGD's): the
//     last good graph keeps serving and the status is left as it is, or,
//     with none, the status says so; retried with backoff;
//   - a kind is not served yet: reported, and retried with backoff and on
//     every CRD change;
//   - anything else is the RGD's own fault: reported as an invalid graph,
//     and retried only when the RGD changes.
//
// Without a last good graph, the instances of the RGD's existing kind are
// served for deletion (see serveDeletions), so that deleting one never
// hangs on a graph this process could not build.
func (c *Controller) compileFailed(ctx context.Context, obj *unstructured.Unstructured, rgd *v1alpha1.ResourceGraphDefinition, current *served, err error) error {
	var list graph.ErrorList
	isList := errors.As(err, &list)
	transient := !isList || list.Has(graph.CodeSchemaUnavailable)
	unknownKind := isList && list.Has(graph.CodeUnknownKind)
	c.mu.Lock()
	if unknownKind && !transient {
		c.unresolved[rgd.Name] = true
	} else {
		delete(c.unresolved, rgd.Name)
	}
	c.mu.Unlock()
	if current == nil || current.graph == nil {
		if serr := c.serveDeletions(ctx, rgd); serr != nil {
			c.log.Info("cannot serve the deletion of instances without a graph yet", "rgd", rgd.Name, "error", serr.Error())
		}
	}
	if transient && current != nil && current.graph != nil {
		// Nothing is known to be wrong with the RGD: its status stays.
		return fmt.Errorf("compiling generation %d failed for a reason outside the RGD; the graph of generation %d keeps running: %w",
			rgd.Generation, current.generation, err)
	}
	msg := err.Error()
	reason := v1alpha1.ReasonInvalidResourceGraph
	if transient {
		reason = reasonSchemaUnavailable
		msg = "looking up the schemas the graph uses failed; retrying: " + msg
	}
	if current != nil && current.graph != nil {
		msg += fmt.Sprintf(" (the last valid graph, of generation %d, keeps running)", current.generation)
	}
	if werr := c.writeStatus(ctx, obj, rgd, nil, statusUpdate{accepted: cond(false, reason, msg)}); werr != nil {
		return werr
	}
	switch {
	case transient:
		return err
	case unknownKind:
		// A CRD created moments ago is served before its schema is
		// published: retry with backoff, and on every CRD change.
		return reconcile.Waiting(err)
	}
	return reconcile.Terminal(err)
}

// serveDeletions lets the instance reconciler finalize the instances of an
// RGD that has no compiled graph in this process (the engine restarted and
// the RGD does not compile now): their deletion needs only the inventory
// each instance carries. The kind is the one the RGD's CRD serves.
func (c *Controller) serveDeletions(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition) error {
	gvr, kind, ok := c.generatedKind(rgd.Name)
	if !ok {
		return nil // no CRD, so no instance
	}
	c.mu.Lock()
	if s := c.served[rgd.Name]; s != nil && s.gvr == gvr {
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	if err := c.instances.ServeDeletions(ctx, gvr, kind, rgd.Name, rgd.UID); err != nil {
		return err
	}
	c.mu.Lock()
	if c.served[rgd.Name] == nil {
		c.served[rgd.Name] = &served{gvr: gvr, kind: kind, generation: -1}
	}
	c.mu.Unlock()
	return nil
}

// generatedKind finds, in the CRD cache, the resource and kind of the CRD
// rgd generated for an RGD.
func (c *Controller) generatedKind(rgdName string) (schema.GroupVersionResource, string, bool) {
	if c.crds == nil {
		return schema.GroupVersionResource{}, "", false
	}
	for _, crd := range c.crds.List("", nil) {
		l := crd.GetLabels()
		if l[metadata.LabelOwned] != "true" || l[metadata.LabelRGDName] != rgdName {
			continue
		}
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
		kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		for _, v := range versions {
			m, _ := v.(map[string]any)
			if storage, _ := m["storage"].(bool); storage {
				version, _ := m["name"].(string)
				return schema.GroupVersionResource{Group: group, Version: version, Resource: plural}, kind, plural != "" && kind != ""
			}
		}
	}
	return schema.GroupVersionResource{}, "", false
}

// InstanceGone enqueues the RGD serving gvr, whose deletion may be waiting
// for its last instance.
func (c *Controller) InstanceGone(gvr schema.GroupVersionResource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, s := range c.served {
		if s.gvr == gvr {
			c.loop.Add(name)
		}
	}
}

// finalize lets an RGD go once it has no instances left: by default the
// deletion waits, and the status says how many remain.
func (c *Controller) finalize(ctx context.Context, obj *unstructured.Unstructured, rgd *v1alpha1.ResourceGraphDefinition) (reconcile.Result, error) {
	if !slices.Contains(rgd.Finalizers, metadata.Finalizer) {
		return reconcile.Result{}, nil
	}
	c.mu.Lock()
	current := c.served[rgd.Name]
	c.mu.Unlock()
	if current == nil {
		// Deleted before any compilation of this process succeeded: its
		// instances, if it has a kind, must still be able to go.
		if err := c.serveDeletions(ctx, rgd); err != nil {
			return reconcile.Result{}, err
		}
		c.mu.Lock()
		current = c.served[rgd.Name]
		c.mu.Unlock()
	}
	if current != nil {
		if n, ok := c.instances.Instances(current.gvr); ok && n > 0 {
			msg := fmt.Sprintf("deletion waits for %d instance(s) of %s to be deleted first", n, current.kind)
			st := statusUpdate{accepted: cond(true, v1alpha1.ReasonValid, "the graph is valid"),
				kind: cond(true, v1alpha1.ReasonKindReady, fmt.Sprintf("kind %s has been accepted and ready", current.kind))}
			if current.graph == nil {
				st = statusUpdate{}
			}
			st.running = cond(false, "DeletionBlocked", msg)
			// InstanceGone brings the RGD back when an instance goes; the
			// requeue is a safety net for instances deleted while the
			// engine was down.
			return reconcile.Result{RequeueAfter: 30 * time.Second}, c.writeStatus(ctx, obj, rgd, current.graph, st)
		}
		c.instances.Deregister(current.gvr)
		if c.opts.AllowCRDDeletion {
			crdName := current.gvr.GroupResource().String() // a CRD's name is plural.group
			if err := c.registrar.Delete(ctx, crdName, registrar.Owner{Name: rgd.Name, UID: rgd.UID}); err != nil {
				return reconcile.Result{}, err
			}
		}
		c.mu.Lock()
		delete(c.served, rgd.Name)
		c.mu.Unlock()
	}
	rest := slices.DeleteFunc(slices.Clone(rgd.Finalizers), func(f string) bool { return f == metadata.Finalizer })
	return reconcile.Result{}, c.patchFinalizers(ctx, obj, rest)
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
