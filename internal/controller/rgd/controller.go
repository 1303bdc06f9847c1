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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
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
	// Workers is the number of RGDs reconciled at once (the engine passes
	// its Options.RGDWorkers; zero means one).
	Workers int
	// AllowCRDDeletion deletes the generated CRD with its RGD.
	AllowCRDDeletion bool
	// Logger receives logs.
	Logger logr.Logger
	// Metrics receives reconcile metrics; nil disables them.
	Metrics *metrics.Metrics
	// Recorder records a Warning event on an RGD whose reconcile failed
	// with an error its status could not carry (the API server refused a
	// write, for example); nil disables them.
	Recorder record.EventRecorder
	// MaxRetryDelay caps the exponential backoff of an RGD whose reconcile
	// failed with an error that may heal (default reconcile.DefaultMaxDelay).
	MaxRetryDelay time.Duration
	// CompileCache keeps work between compilations; nil means
	// graph.DefaultCache, shared by the whole process.
	CompileCache *graph.Cache
	// StrictCostEstimate rejects RGDs with an expression whose estimated
	// CEL cost is above the limit (graph.Options.StrictCostEstimate); by
	// default they run, with a warning in GraphAccepted's message and a
	// Warning event.
	StrictCostEstimate bool
	// DefaultServiceAccount is the identity children are written with for
	// RGDs without the rgd.dev/service-account annotation; nil: the
	// engine's own.
	DefaultServiceAccount *graph.ServiceAccount
	// RequireServiceAccount refuses RGDs that name no ServiceAccount when
	// there is no DefaultServiceAccount (reason ServiceAccountRequired).
	RequireServiceAccount bool
}

// Instances is what the RGD controller asks of the instance controller
// (instance.Reconciler): to serve a kind's instances, to let them go, and to
// say how many there are and when one is gone.
type Instances interface {
	// Register starts serving a kind, or moves it to a new graph.
	Register(ctx context.Context, k instance.Kind) error
	// ServeDeletions serves a kind without a graph, only to finalize the
	// instances being deleted.
	ServeDeletions(ctx context.Context, gvr schema.GroupVersionResource, kind, rgdName string, rgdUID types.UID) error
	// Deregister stops serving a kind.
	Deregister(gvr schema.GroupVersionResource)
	// Instances returns the number of instances of a kind served.
	Instances(gvr schema.GroupVersionResource) (int, bool)
	// SubscribeInstanceGone adds fn to the functions told when an instance
	// is gone.
	SubscribeInstanceGone(fn func(schema.GroupVersionResource))
}

// Deps are what the controller works with.
type Deps struct {
	// Dynamic reads and writes RGDs.
	Dynamic dynamic.Interface
	// Watches runs the informers of RGDs and CRDs.
	Watches *watch.Manager
	// Registrar creates, updates and deletes the generated CRDs.
	Registrar *registrar.Registrar
	// Instances serves the instances of each RGD's kind.
	Instances Instances
	// Resolver looks up the schemas of the kinds a graph uses.
	Resolver schemas.Resolver
	// Invalidate, when not nil, drops cached schemas before a compilation
	// (CRDs may have changed).
	Invalidate func()
}

// Controller reconciles ResourceGraphDefinitions.
type Controller struct {
	deps  Deps
	opts  Options
	log   logr.Logger
	loop  *reconcile.Loop[string]
	cache watch.Cache
	crds  watch.Cache

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
	// serviceAccount is the RGD's rgd.dev/service-account annotation as it
	// was compiled, and identity the effective identity of its children.
	serviceAccount string
	identity       *graph.ServiceAccount
	graph          *graph.Graph
}

// New builds a controller; Start and Run set it to work. It subscribes to
// deps.Instances' news of instances gone: an RGD whose deletion waits for
// its last instance moves on at once.
func New(deps Deps, opts Options) *Controller {
	c := &Controller{
		deps: deps, opts: opts, log: opts.Logger.WithName("rgds"),
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
	deps.Instances.SubscribeInstanceGone(c.instanceGone)
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
	cache, err := c.deps.Watches.Watch(ctx, "rgd-controller", watch.Key{GVR: v1alpha1.ResourceGraphDefinitionResource}, func(ev watch.Event) {
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
	if c.crds, err = c.deps.Watches.Watch(ctx, "rgd-controller", watch.Key{GVR: crds}, func(ev watch.Event) {
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
		old.GetAnnotations()[metadata.AnnotationServiceAccount] != cur.GetAnnotations()[metadata.AnnotationServiceAccount] ||
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
	adopt, sa := rgd.Annotations[metadata.AnnotationAdopt], rgd.Annotations[metadata.AnnotationServiceAccount]
	if current != nil && current.graph != nil && current.generation == rgd.Generation && current.allowBreak == allowBreak && current.adopt == adopt &&
		current.serviceAccount == sa {
		return reconcile.Result{}, c.writeStatus(ctx, obj, rgd, current.graph, servingStatus(current.graph, current.identity))
	}

	if c.deps.Invalidate != nil {
		c.deps.Invalidate()
	}
	g, err := graph.Compile(ctx, rgd, graph.Options{Resolver: c.deps.Resolver, Cache: c.opts.CompileCache, StrictCostEstimate: c.opts.StrictCostEstimate})
	if err != nil {
		return reconcile.Result{}, c.compileFailed(ctx, obj, rgd, current, err)
	}
	c.mu.Lock()
	delete(c.unresolved, name)
	c.mu.Unlock()
	identity, refusal := c.identity(g)
	if refusal != "" {
		return reconcile.Result{}, c.refuseIdentity(ctx, obj, rgd, current, refusal)
	}
	owner := registrar.Owner{Name: rgd.Name, UID: rgd.UID, AllowBreakingChanges: allowBreak == "true"}
	if _, err := c.deps.Registrar.Ensure(ctx, g.CRD, owner); err != nil {
		msg := err.Error()
		var breaking *registrar.BreakingChangeError
		if errors.As(err, &breaking) {
			msg += fmt.Sprintf(" (annotate the ResourceGraphDefinition %s: \"true\" to allow it)", metadata.AnnotationAllowBreakingChanges)
		}
		if current != nil && current.graph != nil {
			msg += fmt.Sprintf("; the graph of generation %d keeps running", current.generation)
		}
		st := statusUpdate{accepted: acceptedCondition(g), kind: cond(false, v1alpha1.ReasonFailed, msg)}
		if werr := c.writeStatus(ctx, obj, rgd, g, st); werr != nil {
			return reconcile.Result{}, werr
		}
		if errors.Is(err, registrar.ErrNotOwned) || errors.Is(err, registrar.ErrOwnedByOther) || breaking != nil {
			return reconcile.Result{}, reconcile.Terminal(err) // needs a human; the next RGD change retries
		}
		return reconcile.Result{}, err
	}
	if current != nil && current.gvr != g.Instance.Resource {
		c.deps.Instances.Deregister(current.gvr)
	}
	if err := c.deps.Instances.Register(ctx, instance.Kind{Graph: g, RGDName: rgd.Name, RGDUID: rgd.UID, AdoptExisting: adopt == "true", ServiceAccount: identity}); err != nil {
		st := servingStatus(g, identity)
		st.running = cond(false, v1alpha1.ReasonFailedToStart, err.Error())
		if werr := c.writeStatus(ctx, obj, rgd, g, st); werr != nil {
			return reconcile.Result{}, werr
		}
		return reconcile.Result{}, errors.Join(err, c.reportNotServed(ctx, g, err))
	}
	c.mu.Lock()
	c.served[name] = &served{gvr: g.Instance.Resource, kind: g.Instance.GVK.Kind, generation: rgd.Generation, allowBreak: allowBreak, adopt: adopt,
		serviceAccount: sa, identity: identity, graph: g}
	c.mu.Unlock()
	c.reportWarnings(obj, g)
	return reconcile.Result{}, c.writeStatus(ctx, obj, rgd, g, servingStatus(g, identity))
}

// reportWarnings records a Warning event for each warning of a graph
// newly served, its reason the warning's code.
func (c *Controller) reportWarnings(obj *unstructured.Unstructured, g *graph.Graph) {
	if c.opts.Recorder == nil {
		return
	}
	for _, w := range g.Warnings {
		c.opts.Recorder.Event(obj, corev1.EventTypeWarning, string(w.Code), withoutRGD(w))
	}
}

// compileFailed handles a failed compilation. What follows depends on whose
// fault it is, told by the errors' codes:
//   - a schema lookup failed (the API server's fault, not the RGD's): the
//     last good graph keeps serving and the status is left as it is, or,
//     with none, the status says so (reason SchemaUnavailable); retried
//     with backoff;
//   - a kind is not served yet: reported (reason UnknownKind), and retried
//     with backoff and on every CRD change;
//   - anything else is the RGD's own fault: reported as an invalid graph
//     (reason InvalidResourceGraph), and retried only when the RGD changes.
//
// The reason is the typed signal clients such as `rgd dev` wait on.
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
	switch {
	case transient:
		reason = v1alpha1.ReasonSchemaUnavailable
		msg = "looking up the schemas the graph uses failed; retrying: " + msg
	case unknownKind:
		reason = v1alpha1.ReasonUnknownKind
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
	if err := c.deps.Instances.ServeDeletions(ctx, gvr, kind, rgd.Name, rgd.UID); err != nil {
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
	// The selector spares decoding every other CRD of the cluster (the
	// cache decodes what it returns).
	owned := labels.SelectorFromSet(labels.Set{metadata.LabelOwned: "true", metadata.LabelRGDName: rgdName})
	for _, crd := range c.crds.List("", owned) {
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

// instanceGone enqueues the RGD serving gvr, whose deletion may be waiting
// for its last instance.
func (c *Controller) instanceGone(gvr schema.GroupVersionResource) {
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
		if n, ok := c.deps.Instances.Instances(current.gvr); ok && n > 0 {
			msg := fmt.Sprintf("deletion waits for %d instance(s) of %s to be deleted first", n, current.kind)
			st := statusUpdate{accepted: acceptedCondition(current.graph),
				kind: kindReadyCondition(current.kind, current.identity)}
			if current.graph == nil {
				st = statusUpdate{}
			}
			st.running = cond(false, "DeletionBlocked", msg)
			// instanceGone brings the RGD back when an instance goes; the
			// requeue is a safety net for instances deleted while the
			// engine was down.
			return reconcile.Result{RequeueAfter: 30 * time.Second}, c.writeStatus(ctx, obj, rgd, current.graph, st)
		}
		c.deps.Instances.Deregister(current.gvr)
		if c.opts.AllowCRDDeletion {
			crdName := current.gvr.GroupResource().String() // a CRD's name is plural.group
			if err := c.deps.Registrar.Delete(ctx, crdName, registrar.Owner{Name: rgd.Name, UID: rgd.UID}); err != nil {
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
	_, err := c.deps.Dynamic.Resource(v1alpha1.ResourceGraphDefinitionResource).Patch(ctx, obj.GetName(), types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

func jsonList(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(quoted, ",") + "]"
}
