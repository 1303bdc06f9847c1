package instance

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/rgd-dev/rgd/internal/metrics"
	"github.com/rgd-dev/rgd/internal/reconcile"
	"github.com/rgd-dev/rgd/internal/watch"
	"github.com/rgd-dev/rgd/pkg/graph"
	"github.com/rgd-dev/rgd/pkg/metadata"
	"github.com/rgd-dev/rgd/pkg/render"
)

// Key identifies one instance.
type Key struct {
	// GVR is the resource of the instance's kind.
	GVR schema.GroupVersionResource
	// Namespace and Name of the instance.
	Namespace, Name string
}

// String is the key as logs show it: resource/namespace/name.
func (k Key) String() string {
	if k.Namespace == "" {
		return k.GVR.Resource + "/" + k.Name
	}
	return k.GVR.Resource + "/" + k.Namespace + "/" + k.Name
}

// Options configure a Reconciler.
type Options struct {
	// Workers is the number of instances reconciled at once (the engine
	// passes its Options.Workers; zero means one).
	Workers int
	// MaxCollectionSize caps one forEach expansion (default
	// render.DefaultMaxCollectionSize).
	MaxCollectionSize int
	// ApplyConcurrency caps the writes of one wave that run at once
	// (default 8).
	ApplyConcurrency int
	// Logger receives logs.
	Logger logr.Logger
	// Metrics receives reconcile metrics; nil disables them.
	Metrics *metrics.Metrics
	// Recorder records Kubernetes events on instances; nil disables them.
	Recorder record.EventRecorder
	// Version is written in the kro.run/kro-version label.
	Version string
	// EvalObserver, when set, is told the duration of every CEL evaluation
	// of this reconciler's passes (for a histogram); nil disables it.
	EvalObserver render.Observer
	// MaxRetryDelay caps the exponential backoff of an instance whose pass
	// failed with an error that may heal (default reconcile.DefaultMaxDelay).
	MaxRetryDelay time.Duration
	// Client is the REST client the dynamic client was built on (see
	// dynamic.New). With it, a deletion the API server carried out at once
	// is proven by its answer, and an instance's deletion waves follow each
	// other within one pass; without it, each wave waits for its informer's
	// Deleted events.
	Client rest.Interface
	// Identities builds the clients that impersonate the ServiceAccounts
	// RGDs name (Kind.ServiceAccount); nil: such kinds' children cannot be
	// written, and their instances say so.
	Identities *Identities
}

// RESTClientFor returns the REST client for cfg that the dynamic client is
// built on (dynamic.New) and that Options.Client takes: one connection and
// one rate limit for both.
func RESTClientFor(cfg *rest.Config) (*rest.RESTClient, error) {
	ids, err := NewIdentities(cfg)
	if err != nil {
		return nil, err
	}
	return ids.Engine(), nil
}

// Kind is what the reconciler needs to serve one generated kind.
type Kind struct {
	// Graph is the compiled graph; it is swapped when the RGD changes.
	Graph *graph.Graph
	// RGDName and RGDUID identify the ResourceGraphDefinition.
	RGDName string
	RGDUID  types.UID
	// AdoptExisting lets templates take over objects rgd did not create.
	AdoptExisting bool
	// ServiceAccount, when set, is the identity every write of a child
	// (and every read that decides a takeover) uses, through
	// impersonation; nil means the engine's own identity.
	ServiceAccount *graph.ServiceAccount
}

// Reconciler reconciles the instances of every registered kind.
type Reconciler struct {
	dyn     dynamic.Interface
	watches *watch.Manager
	opts    Options
	log     logr.Logger
	loop    *reconcile.Loop[Key]

	// mu guards kinds and byGroupKind.
	mu    sync.RWMutex
	kinds map[schema.GroupVersionResource]*kindState
	// byGroupKind maps an instance kind to its resource, to route child
	// events (children carry the instance's group and kind in labels).
	byGroupKind map[schema.GroupKind]schema.GroupVersionResource

	// routes, memory and deletions each guard themselves.
	//
	// routes leads events of objects instances read to those instances.
	routes routes
	// memory is what rgd remembers of its own writes.
	memory writeMemory
	// deletions holds the children rgd deleted until they are proven gone.
	deletions deletions

	// goneMu guards gone: the functions told when an instance is gone.
	goneMu sync.RWMutex
	gone   []func(schema.GroupVersionResource)

	// states holds each instance's last state, by UID, for the gauge.
	statesMu sync.Mutex
	states   map[string]string
}

// SubscribeInstanceGone adds fn to the functions told when an instance is
// gone (its finalizer released or the object deleted), so that an RGD
// waiting for its instances moves on at once.
func (r *Reconciler) SubscribeInstanceGone(fn func(schema.GroupVersionResource)) {
	r.goneMu.Lock()
	defer r.goneMu.Unlock()
	r.gone = append(r.gone, fn)
}

type kindState struct {
	// kind.Graph is nil for a kind served only for deletion (see
	// ServeDeletions).
	kind Kind
	// gk is the instance kind, which children carry in their labels.
	gk schema.GroupKind
	// layout is derived from kind.Graph once, when it is registered.
	layout layout
	// schemaChanged is when the instance schema last changed: the API
	// server serves the new defaults a little after the CRD update, so for
	// a while reconciles read instances from it rather than the cache.
	schemaChanged time.Time
	gvr           schema.GroupVersionResource
	owner         string
	cache         watch.Cache
	watched       map[watch.Key]bool
}

// New builds a Reconciler. Run starts its workers.
func New(dyn dynamic.Interface, watches *watch.Manager, opts Options) *Reconciler {
	if opts.MaxCollectionSize <= 0 {
		opts.MaxCollectionSize = render.DefaultMaxCollectionSize
	}
	if opts.ApplyConcurrency <= 0 {
		opts.ApplyConcurrency = 8
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	r := &Reconciler{
		dyn:         dyn,
		watches:     watches,
		opts:        opts,
		log:         opts.Logger.WithName("instances"),
		kinds:       map[schema.GroupVersionResource]*kindState{},
		byGroupKind: map[schema.GroupKind]schema.GroupVersionResource{},
		states:      map[string]string{},
	}
	r.loop = reconcile.New(r.reconcile, reconcile.Options[Key]{
		Name:     "instance",
		Workers:  opts.Workers,
		MaxDelay: opts.MaxRetryDelay,
		Logger:   r.log,
		Metrics:  opts.Metrics,
	})
	return r
}

// Register starts serving a kind, or moves it to a new graph: the instance
// informer and the informers of every kind the graph creates or reads are
// started (and synced) before the first instance is reconciled; every
// instance is then reconciled against the new graph.
func (r *Reconciler) Register(ctx context.Context, k Kind) error {
	g := k.Graph
	gvr := g.Instance.Resource
	owner := "kind/" + gvr.String()

	r.mu.RLock()
	existing := r.kinds[gvr]
	r.mu.RUnlock()

	want := map[watch.Key]bool{}
	for key, used := range graphWatches(g) {
		want[key] = true
		if _, err := r.watches.WatchFields(ctx, owner, key, used, r.childHandler(key)); err != nil {
			return fmt.Errorf("watching %s: %w", key.GVR, err)
		}
	}
	instKey := watch.Key{GVR: gvr}
	var schemaChanged time.Time
	if existing != nil {
		schemaChanged = existing.schemaChanged
	}
	if existing != nil && existing.kind.Graph != nil && !equality.Semantic.DeepEqual(existing.kind.Graph.CRD.Spec.Versions, g.CRD.Spec.Versions) {
		schemaChanged = time.Now()
		// The schema changed: instances cached before were decoded without
		// its new defaults, and no event will refresh them (etcd did not
		// change). List them again.
		r.watches.Release(owner, instKey)
	}
	cache, err := r.watches.Watch(ctx, owner, instKey, r.instanceHandler(gvr))
	if err != nil {
		return fmt.Errorf("watching instances of %s: %w", gvr, err)
	}
	want[instKey] = true

	gk := schema.GroupKind{Group: gvr.Group, Kind: g.Instance.GVK.Kind}
	r.mu.Lock()
	st := &kindState{kind: k, gk: gk, layout: newLayout(g), gvr: gvr, owner: owner, cache: cache, watched: want, schemaChanged: schemaChanged}
	r.kinds[gvr] = st
	r.byGroupKind[gk] = gvr
	r.mu.Unlock()

	if existing != nil {
		for key := range existing.watched {
			if !want[key] {
				r.watches.Release(owner, key)
			}
		}
	}
	// Every instance moves to the new graph.
	for _, n := range cache.Names() {
		r.loop.Add(Key{GVR: gvr, Namespace: n.Namespace, Name: n.Name})
	}
	return nil
}

// ServeDeletions serves a kind for which no graph could be compiled (the
// engine restarted while its RGD does not compile, or cannot look up its
// schemas yet): an instance being deleted is finalized from the inventory
// it carries, which needs no graph; every other instance is left as it is
// until Register brings the graph. A kind already served is left alone.
func (r *Reconciler) ServeDeletions(ctx context.Context, gvr schema.GroupVersionResource, kind, rgdName string, rgdUID types.UID) error {
	r.mu.RLock()
	_, served := r.kinds[gvr]
	r.mu.RUnlock()
	if served {
		return nil
	}
	owner := "kind/" + gvr.String()
	instKey := watch.Key{GVR: gvr}
	cache, err := r.watches.Watch(ctx, owner, instKey, r.instanceHandler(gvr))
	if err != nil {
		return fmt.Errorf("watching instances of %s: %w", gvr, err)
	}
	gk := schema.GroupKind{Group: gvr.Group, Kind: kind}
	r.mu.Lock()
	if _, served := r.kinds[gvr]; served {
		r.mu.Unlock()
		return nil // Register won the race
	}
	r.kinds[gvr] = &kindState{kind: Kind{RGDName: rgdName, RGDUID: rgdUID}, gk: gk, gvr: gvr, owner: owner, cache: cache,
		watched: map[watch.Key]bool{instKey: true}}
	r.byGroupKind[gk] = gvr
	r.mu.Unlock()
	for _, obj := range cache.List("", nil) {
		if obj.GetDeletionTimestamp() != nil {
			r.loop.Add(Key{GVR: gvr, Namespace: obj.GetNamespace(), Name: obj.GetName()})
		}
	}
	return nil
}

// Deregister stops serving a kind: its instances are no longer reconciled.
func (r *Reconciler) Deregister(gvr schema.GroupVersionResource) {
	r.mu.Lock()
	st := r.kinds[gvr]
	delete(r.kinds, gvr)
	if st != nil {
		delete(r.byGroupKind, st.gk)
	}
	r.mu.Unlock()
	if st != nil {
		r.watches.ReleaseAll(st.owner)
	}
}

// Instances returns the number of instances of a registered kind.
func (r *Reconciler) Instances(gvr schema.GroupVersionResource) (int, bool) {
	r.mu.RLock()
	st := r.kinds[gvr]
	r.mu.RUnlock()
	if st == nil {
		return 0, false
	}
	return st.cache.Len(), true
}

// QueueLen returns the number of instances waiting to be reconciled.
func (r *Reconciler) QueueLen() int { return r.loop.Len() }

// graphWatches returns the informers a graph's resources need, each with
// the fields it keeps of every object (see watch.Manager.WatchFields). The
// children's informers keep only what the graph uses (the union over the
// resources of a kind; nil: everything), and their managedFields when a
// resource has external fields, whose writers are read from them.
func graphWatches(g *graph.Graph) map[watch.Key][][]string {
	out := map[watch.Key][][]string{}
	fields := map[schema.GroupVersionResource][][]string{}
	whole := map[schema.GroupVersionResource]bool{}
	managed := map[schema.GroupVersionResource]bool{}
	for _, res := range g.Resources {
		if res.External {
			out[watch.Key{GVR: res.GVR}] = nil
			continue
		}
		out[foreignKey(res.GVR)] = nil
		used := res.UsedFields()
		whole[res.GVR] = whole[res.GVR] || used == nil
		managed[res.GVR] = managed[res.GVR] || len(res.ExternalFields) > 0
		fields[res.GVR] = append(fields[res.GVR], used...)
	}
	for gvr, used := range fields {
		switch {
		case whole[gvr] && managed[gvr]:
			used = [][]string{{}, watch.ManagedFields()} // everything, and managedFields
		case whole[gvr]:
			used = nil
		case managed[gvr]:
			used = append(used, watch.ManagedFields())
		}
		out[childKey(gvr)] = used
	}
	return out
}

// childKey is the informer of a kind's children: every object rgd owns.
func childKey(gvr schema.GroupVersionResource) watch.Key {
	return watch.Key{GVR: gvr, Selector: metadata.LabelOwned + "=true"}
}

// foreignKey is the informer of every object of gvr that rgd does not own,
// metadata only: together with childKey's it is a complete view of what
// exists, so that rgd knows without asking the API server whether a name it
// is about to create is free.
func foreignKey(gvr schema.GroupVersionResource) watch.Key {
	return watch.Key{GVR: gvr, Selector: metadata.LabelOwned + "!=true", MetadataOnly: true}
}

// instanceHandler enqueues an instance when something rgd acts on changed:
// its spec (generation), labels, annotations, finalizers or deletion; not
// when only its status changed (rgd's own status writes).
func (r *Reconciler) instanceHandler(gvr schema.GroupVersionResource) watch.Handler {
	return func(ev watch.Event) {
		obj := ev.Object
		if ev.Type == watch.Updated && ev.Old != nil && !instanceChanged(ev.Old, obj) {
			return
		}
		if ev.Type == watch.Updated && r.memory.isOwnWrite(gvr, obj) {
			// The echo of rgd's own write: the pass that wrote it went on
			// from what the write returned.
			return
		}
		r.loop.Add(Key{GVR: gvr, Namespace: obj.GetNamespace(), Name: obj.GetName()})
	}
}

func instanceChanged(old, cur *unstructured.Unstructured) bool {
	return old.GetGeneration() != cur.GetGeneration() ||
		!equalStrings(old.GetLabels(), cur.GetLabels()) ||
		!equalStrings(old.GetAnnotations(), cur.GetAnnotations()) ||
		len(old.GetFinalizers()) != len(cur.GetFinalizers()) ||
		(old.GetDeletionTimestamp() == nil) != (cur.GetDeletionTimestamp() == nil)
}

func equalStrings(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// childHandler routes events of children (by their instance labels) and of
// external objects (by the instances that read them) to instances.
func (r *Reconciler) childHandler(key watch.Key) watch.Handler {
	if key.Selector == "" || key.MetadataOnly {
		// External objects, and objects of others whose names instances
		// want: both are routed to the instances that read them, by name
		// or by a selector they match (or matched, before an update).
		return func(ev watch.Event) {
			for _, k := range r.routes.instancesReading(key.GVR, ev.Object, ev.Old) {
				r.loop.Add(k)
			}
		}
	}
	return func(ev watch.Event) {
		if ev.Type == watch.Deleted {
			k := writtenKey{gvr: key.GVR, namespace: ev.Object.GetNamespace(), name: ev.Object.GetName()}
			r.deletions.observe(k, ev.Object.GetUID())
			r.memory.childGone(ev.Object.GetUID())
		}
		labels := ev.Object.GetLabels()
		gk := schema.GroupKind{Group: labels[metadata.LabelInstanceGroup], Kind: labels[metadata.LabelInstanceKind]}
		r.mu.RLock()
		gvr, ok := r.byGroupKind[gk]
		st := r.kinds[gvr]
		r.mu.RUnlock()
		if !ok || labels[metadata.LabelInstanceName] == "" {
			return
		}
		if ev.Type == watch.Updated && ev.Old != nil && !childChangeMatters(st, key.GVR, labels[metadata.LabelNodeID], ev.Old, ev.Object) {
			return
		}
		r.loop.Add(Key{GVR: gvr, Namespace: labels[metadata.LabelInstanceNamespace], Name: labels[metadata.LabelInstanceName]})
	}
}

// childChangeMatters reports whether an update of a child can change what
// its instance's next pass computes (see graph.Resource.SeesChange). node is
// the child's node-id label (see metadata.NodeIDLabel). When the child's
// kind or node is not known, it does.
func childChangeMatters(st *kindState, childGVR schema.GroupVersionResource, node string, old, cur *unstructured.Unstructured) bool {
	if st == nil || st.kind.Graph == nil || node == "" {
		return true
	}
	res := st.layout.byNode[node]
	if res == nil || res.GVR != childGVR {
		return true
	}
	return res.SeesChange(old.Object, cur.Object)
}

// forget drops what the reconciler holds for an instance that is gone, and
// tells the subscribers (see SubscribeInstanceGone).
func (r *Reconciler) forget(key Key) {
	r.memory.forgetInstance(key)
	r.routes.forget(key)
	r.goneMu.RLock()
	subscribers := r.gone
	r.goneMu.RUnlock()
	for _, fn := range subscribers {
		fn(key.GVR)
	}
}

// Run starts the workers and blocks until ctx ends.
func (r *Reconciler) Run(ctx context.Context) {
	go r.memory.sweep(ctx)
	r.loop.Run(ctx)
}
