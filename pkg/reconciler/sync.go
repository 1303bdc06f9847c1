package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/rgd-dev/rgd/internal/reconcile"
	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/graph"
	"github.com/rgd-dev/rgd/pkg/metadata"
	"github.com/rgd-dev/rgd/pkg/render"
	"github.com/rgd-dev/rgd/pkg/watch"
)

// Resource states, as kro names them.
const (
	stateSynced     = "SYNCED"
	stateInProgress = "IN_PROGRESS"
	stateWaiting    = "WAITING_FOR_READINESS"
	stateSkipped    = "SKIPPED"
	stateError      = "ERROR"
)

// schemaSettleTime is how long after an instance schema change reconciles
// read instances from the API server instead of the cache.
const schemaSettleTime = 2 * time.Minute

// nodeState is what one pass found out about one resource of the graph.
type nodeState struct {
	state   string
	message string
	ready   bool
	// complete is true when every object of the resource was rendered, so
	// that objects it no longer produces may be pruned.
	complete bool
	// desired holds the identities of the objects the resource produces.
	desired []Entry
}

// pass holds the state of one reconcile of one instance.
type pass struct {
	r        *Reconciler
	st       *kindState
	key      Key
	inst     *unstructured.Unstructured
	g        *graph.Graph
	in       *render.Inputs
	states   map[string]*nodeState
	inv      Inventory
	requeue  time.Duration
	graphErr error
	// retry joins the failed writes of this pass that may succeed when
	// tried again: the pass returns it, so the instance is retried with
	// backoff after its status has said what failed.
	retryMu sync.Mutex
	retry   error

	// changes are the children this pass created, updated or took over,
	// by event reason: one event per reason at the end of the pass, not one
	// per child, as every event is a write to the API server.
	changesMu sync.Mutex
	changes   map[string][]string
	// firstPass is true for the pass that took the instance in (it put
	// rgd's finalizer on it). The children it creates get no Created
	// event: the instance's conditions, written at the end of the pass,
	// report them, and at scale such events are a write per instance.
	firstPass bool
}

// action is one write a wave needs.
type action struct {
	node   *graph.Resource
	index  int
	obj    *unstructured.Unstructured
	entry  Entry
	create bool
	adopt  bool
	// upToDate is true when the live object already holds the desired state.
	upToDate bool
	live     *unstructured.Unstructured
	result   *unstructured.Unstructured
	err      error
	message  string
}

func (r *Reconciler) reconcile(ctx context.Context, key Key) (reconcile.Result, error) {
	r.mu.RLock()
	st := r.kinds[key.GVR]
	r.mu.RUnlock()
	if st == nil {
		return reconcile.Result{}, nil
	}
	cached, ok := st.cache.Get(key.Namespace, key.Name)
	if !ok {
		r.forget(key)
		return reconcile.Result{}, nil
	}
	inst := r.latestInstance(st.gvr, cached).DeepCopy()
	if !st.schemaChanged.IsZero() && time.Since(st.schemaChanged) < schemaSettleTime {
		// Right after a schema change the cache may hold the instance
		// without its new defaults; the API server applies them on read.
		fresh, err := r.dyn.Resource(st.gvr).Namespace(key.Namespace).Get(ctx, key.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			r.forget(key)
			return reconcile.Result{}, nil
		case err != nil:
			return reconcile.Result{}, err
		}
		inst = fresh
	}
	inv, invErr := readInventory(inst.GetAnnotations())
	if inst.GetDeletionTimestamp() != nil {
		if invErr != nil {
			return reconcile.Result{}, invErr
		}
		return r.finalize(ctx, st, key, inst, inv)
	}
	if st.kind.Graph == nil {
		// Served for deletion only: the graph comes with Register.
		return reconcile.Result{}, nil
	}
	if invErr != nil {
		// A corrupt inventory must not be overwritten: it is the record of
		// what to delete. Say so and wait for a human.
		return reconcile.Result{}, r.writeStatus(ctx, st.gvr, inst, nil, v1alpha1.InstanceStateError, []condition{
			{typ: v1alpha1.ConditionInstanceManaged, ok: false, reason: "InvalidInventory", message: invErr.Error()},
		})
	}
	firstPass := !slices.Contains(inst.GetFinalizers(), metadata.Finalizer)
	inst, inv, err := r.ensureManaged(ctx, st, inst, inv)
	if err != nil {
		return reconcile.Result{}, err
	}
	if metadata.IsSuspended(inst.GetAnnotations()) {
		return reconcile.Result{}, r.writeStatus(ctx, st.gvr, inst, currentStatusFields(inst), stateOf(inst), []condition{
			{typ: v1alpha1.ConditionInstanceManaged, ok: true, reason: "Managed", message: "instance is managed by rgd"},
			{typ: v1alpha1.ConditionResourcesReady, ok: false, reason: "ReconciliationSuspended",
				message: fmt.Sprintf("reconciliation is suspended by the annotation %s", metadata.AnnotationReconcile)},
		})
	}

	p := &pass{
		r: r, st: st, key: key, inst: inst, g: st.kind.Graph,
		states: map[string]*nodeState{}, inv: inv, firstPass: firstPass,
	}
	p.in = render.NewInputs(p.g, inst.Object, nil)
	err = p.walk(ctx)
	if err != nil {
		p.recordChanges()
		return reconcile.Result{}, err
	}
	if !st.schemaChanged.IsZero() && time.Since(st.schemaChanged) < schemaSettleTime {
		for _, ns := range p.states {
			if ns.state == stateInProgress && strings.HasPrefix(ns.message, "waiting for data") {
				// The API server may not serve the new schema's defaults
				// yet, and nothing else would bring this instance back.
				p.requeueAfter(time.Second)
				break
			}
		}
	}
	err = p.prune(ctx)
	p.recordChanges()
	if err != nil {
		return reconcile.Result{}, err
	}
	if err := p.writeStatus(ctx); err != nil {
		return reconcile.Result{}, errors.Join(err, p.retry)
	}
	if p.retry != nil {
		return reconcile.Result{}, p.retry
	}
	return reconcile.Result{RequeueAfter: p.requeue}, nil
}

// ensureManaged puts rgd's finalizer and labels on the instance (one write,
// the first time), before any child exists. It returns the instance and its
// inventory as they are after that write.
func (r *Reconciler) ensureManaged(ctx context.Context, st *kindState, inst *unstructured.Unstructured, inv Inventory) (*unstructured.Unstructured, Inventory, error) {
	labels := inst.GetLabels()
	wantLabels := map[string]string{
		metadata.LabelOwned:   "true",
		metadata.LabelRGDName: st.kind.RGDName,
		metadata.LabelRGDID:   string(st.kind.RGDUID),
	}
	needLabels := false
	for k, v := range wantLabels {
		if labels[k] != v {
			needLabels = true
		}
	}
	hasFinalizer := slices.Contains(inst.GetFinalizers(), metadata.Finalizer)
	_, hasInventory := inst.GetAnnotations()[metadata.AnnotationInventory]
	if !needLabels && hasFinalizer && hasInventory {
		return inst, inv, nil
	}
	// The first write also records the children the instance will have as
	// far as they can be known now (rendered with desired states standing
	// in for live ones), so that creating them usually needs no further
	// inventory write.
	inv, _ = inv.with(r.predictChildren(st, inst)...)
	patch := map[string]any{
		"metadata": map[string]any{
			"resourceVersion": inst.GetResourceVersion(),
			"labels":          wantLabels,
			"finalizers":      append(slices.Clone(inst.GetFinalizers()), finalizerIfMissing(hasFinalizer)...),
			"annotations":     map[string]any{metadata.AnnotationInventory: inv.encode()},
		},
	}
	out, err := r.patchInstance(ctx, st, inst, patch)
	if err != nil {
		return nil, nil, err
	}
	return out, inv, nil
}

// predictChildren renders the graph offline, each rendered child standing in
// for its live state, and returns the children it would create. Whatever
// cannot be rendered yet (it needs live status or an external object) is
// left for the inventory writes of the walk.
func (r *Reconciler) predictChildren(st *kindState, inst *unstructured.Unstructured) []Entry {
	in := render.NewInputs(st.kind.Graph, inst.Object, nil)
	var out []Entry
	for _, rr := range render.Offline(st.kind.Graph, in, inst.GetNamespace(), render.Options{MaxCollectionSize: r.opts.MaxCollectionSize}) {
		if rr.Err != nil || rr.Resource.External || !rr.Result.Included || len(rr.Result.Pending) > 0 {
			continue
		}
		for _, obj := range rr.Result.Objects {
			out = append(out, st.layout.entry(rr.Resource, &unstructured.Unstructured{Object: obj}))
		}
	}
	return out
}

func finalizerIfMissing(has bool) []string {
	if has {
		return nil
	}
	return []string{metadata.Finalizer}
}

// patchInstance merge-patches the instance's metadata, guarded by its
// resourceVersion so that a concurrent change is never overwritten.
func (r *Reconciler) patchInstance(ctx context.Context, st *kindState, inst *unstructured.Unstructured, patch map[string]any) (*unstructured.Unstructured, error) {
	body, err := json.Marshal(patch)
	if err != nil {
		return nil, err
	}
	out, err := r.dyn.Resource(st.gvr).Namespace(inst.GetNamespace()).Patch(ctx, inst.GetName(), types.MergePatchType, body, metav1.PatchOptions{FieldManager: metadata.FieldManagerInstance})
	if err != nil {
		return nil, fmt.Errorf("updating instance %s/%s: %w", inst.GetNamespace(), inst.GetName(), err)
	}
	r.rememberInstance(st.gvr, out)
	return out, nil
}

// recordInventory adds entries to the instance's inventory before the
// children they name are created.
func (p *pass) recordInventory(ctx context.Context, entries []Entry) error {
	inv, added := p.inv.with(entries...)
	if !added {
		return nil
	}
	return p.saveInventory(ctx, inv)
}

func (p *pass) saveInventory(ctx context.Context, inv Inventory) error {
	patch := map[string]any{"metadata": map[string]any{
		"resourceVersion": p.inst.GetResourceVersion(),
		"annotations":     map[string]any{metadata.AnnotationInventory: inv.encode()},
	}}
	out, err := p.r.patchInstance(ctx, p.st, p.inst, patch)
	if err != nil {
		return err
	}
	p.inst = out
	p.inv = inv
	return nil
}

// layout is what the reconciler derives once from a graph: the creation
// levels (a resource's level is one more than its deepest dependency's) and
// the deletion waves (dependents are deleted before what they depend on,
// and Namespaces after everything, the children that live in them).
type layout struct {
	levels [][]*graph.Resource
	waves  map[string]int
}

func newLayout(g *graph.Graph) layout {
	l := layout{waves: map[string]int{}}
	level := map[string]int{}
	for _, res := range g.Resources {
		n := 0
		for _, d := range res.Dependencies {
			n = max(n, level[d]+1)
		}
		level[res.ID] = n
		for len(l.levels) <= n {
			l.levels = append(l.levels, nil)
		}
		l.levels[n] = append(l.levels[n], res)
		if res.GVK.Group == "" && res.GVK.Kind == "Namespace" {
			l.waves[res.ID] = 0
		} else {
			l.waves[res.ID] = n + 1
		}
	}
	return l
}

// entry is the inventory entry of a rendered child.
func (l layout) entry(res *graph.Resource, u *unstructured.Unstructured) Entry {
	return Entry{
		APIVersion: res.GVK.GroupVersion().String(), Kind: res.GVK.Kind, Resource: res.GVR.Resource,
		Namespace: u.GetNamespace(), Name: u.GetName(), Node: res.ID, Wave: l.waves[res.ID],
	}
}

// walk renders, applies and checks the readiness of every resource, level by
// level: the writes of one level run in parallel, and a level starts as soon
// as the previous one is done, in the same reconcile.
func (p *pass) walk(ctx context.Context) error {
	for _, level := range p.st.layout.levels {
		var actions []*action
		for _, res := range level {
			actions = append(actions, p.plan(res)...)
		}
		var creates []Entry
		for _, a := range actions {
			if a.create || a.adopt {
				creates = append(creates, a.entry)
			}
		}
		if err := p.recordInventory(ctx, creates); err != nil {
			return err
		}
		p.execute(ctx, actions)
		for _, res := range level {
			p.finish(res, actions)
		}
	}
	return nil
}

// plan decides what a resource needs: nothing (skipped, waiting, up to date)
// or writes.
func (p *pass) plan(res *graph.Resource) []*action {
	ns := &nodeState{}
	p.states[res.ID] = ns
	for _, dep := range res.Dependencies {
		ds := p.states[dep]
		if ds.state == stateSkipped {
			ns.state, ns.ready, ns.complete = stateSkipped, true, true
			ns.message = fmt.Sprintf("skipped because %s is skipped", dep)
			return nil
		}
	}
	var waiting []string
	for _, dep := range res.Dependencies {
		if !p.states[dep].ready {
			waiting = append(waiting, dep)
		}
	}
	if len(waiting) > 0 {
		ns.state = stateWaiting
		ns.message = "waiting for " + strings.Join(waiting, ", ")
		return nil
	}
	rendered, err := render.Resource(res, p.in, p.inst.GetNamespace(), render.Options{MaxCollectionSize: p.r.opts.MaxCollectionSize})
	if err != nil {
		ns.state, ns.message = stateError, err.Error()
		p.graphErr = err
		return nil
	}
	if !rendered.Included {
		ns.state, ns.ready, ns.complete = stateSkipped, true, true
		ns.message = "excluded by includeWhen"
		return nil
	}
	if len(rendered.Pending) > 0 {
		ns.state = stateInProgress
		ns.message = "waiting for data: " + rendered.Pending[0].String()
		return nil
	}
	if res.External {
		p.observeExternal(res, rendered.Objects[0], ns)
		return nil
	}
	ns.complete = true
	var actions []*action
	cache, _ := p.r.watches.Cache(childKey(res.GVR))
	seen := map[string]bool{}
	for i, obj := range rendered.Objects {
		u := &unstructured.Unstructured{Object: obj}
		if id := joinName(u.GetNamespace(), u.GetName()); seen[id] {
			ns.state, ns.complete = stateError, false
			ns.message = fmt.Sprintf("forEach produced two objects named %s: every combination must have a unique name", id)
			return nil
		} else {
			seen[id] = true
		}
		p.decorate(res, u, i, len(rendered.Objects))
		entry := p.st.layout.entry(res, u)
		ns.desired = append(ns.desired, entry)
		a := &action{node: res, index: i, obj: u, entry: entry}
		var live *unstructured.Unstructured
		if cache != nil {
			live, _ = cache.Get(u.GetNamespace(), u.GetName())
		}
		wk := writtenKey{gvr: res.GVR, namespace: u.GetNamespace(), name: u.GetName()}
		if w, ok := p.r.written.Load(wk); ok {
			recent := w.(writtenObject).obj
			switch {
			case time.Since(w.(writtenObject).at) > writtenTTL:
				p.r.written.Delete(wk) // never let a stale write hide a deletion
			case live == nil:
				live = recent // the cache has not seen rgd's write yet
			case live.GetUID() == recent.GetUID() && olderVersion(live, recent):
				live = recent
			default:
				p.r.written.Delete(wk) // the cache caught up
			}
		}
		switch {
		case live == nil:
			p.planCreate(a, res)
		case live.GetLabels()[metadata.LabelInstanceID] != string(p.inst.GetUID()):
			a.err = &refusedError{msg: fmt.Sprintf("%s belongs to another instance (%s %s/%s)", entry, live.GetLabels()[metadata.LabelInstanceKind],
				live.GetLabels()[metadata.LabelInstanceNamespace], live.GetLabels()[metadata.LabelInstanceName])}
		case live.GetDeletionTimestamp() != nil:
			a.live = live
			a.message = fmt.Sprintf("%s is being deleted; waiting to create it again", entry)
		case p.r.upToDate(live, u):
			a.live, a.upToDate = live, true
		default:
			a.live = live // drift or a new desired state: apply
		}
		actions = append(actions, a)
	}
	return actions
}

// planCreate decides about a child rgd's cache does not hold: the cache of
// everything else says whether the name is taken by an object rgd did not
// create. Such an object is taken over only when the RGD allows it.
func (p *pass) planCreate(a *action, res *graph.Resource) {
	ns, name := a.obj.GetNamespace(), a.obj.GetName()
	var other *unstructured.Unstructured
	if cache, ok := p.r.watches.Cache(foreignKey(res.GVR)); ok {
		other, _ = cache.Get(ns, name)
	}
	if other == nil {
		a.create = true
		return
	}
	// Hear when it goes away, or changes hands.
	p.r.trackExternal(p.key, res.GVR, ns, name)
	if p.st.kind.AdoptExisting {
		a.adopt = true
		return
	}
	a.err = p.refuseAdoption(a)
}

// refuseAdoption is the error of a child whose name an object rgd did not
// create already has.
func (p *pass) refuseAdoption(a *action) error {
	err := &refusedError{msg: fmt.Sprintf("%s already exists and was not created by rgd for this instance: rgd does not take over objects it did not create (annotate the ResourceGraphDefinition %s=\"true\" to allow it)",
		a.entry, metadata.AnnotationAdopt)}
	p.r.event(p.inst, "Warning", "AdoptionRefused", "%v", err)
	return err
}

// decorate stamps rgd's labels and annotations on a child.
func (p *pass) decorate(res *graph.Resource, u *unstructured.Unstructured, index, size int) {
	gvk := p.g.Instance.GVK
	labels := u.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[metadata.LabelOwned] = "true"
	labels[metadata.LabelKroVersion] = p.r.opts.Version
	labels[metadata.LabelManagedBy] = metadata.ManagedByValue
	labels[metadata.LabelInstanceID] = string(p.inst.GetUID())
	labels[metadata.LabelInstanceName] = p.inst.GetName()
	if p.inst.GetNamespace() != "" {
		labels[metadata.LabelInstanceNamespace] = p.inst.GetNamespace()
	}
	labels[metadata.LabelInstanceGroup] = gvk.Group
	labels[metadata.LabelInstanceVersion] = gvk.Version
	labels[metadata.LabelInstanceKind] = gvk.Kind
	labels[metadata.LabelNodeID] = res.ID
	labels[metadata.LabelApplySetPartOf] = string(p.inst.GetUID())
	if len(res.ForEach) > 0 {
		labels[metadata.LabelCollectionIndex] = strconv.Itoa(index)
		labels[metadata.LabelCollectionSize] = strconv.Itoa(size)
	}
	u.SetLabels(labels)
	annotations := u.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[metadata.AnnotationApplyOrder] = strconv.Itoa(p.st.layout.waves[res.ID])
	delete(annotations, metadata.AnnotationDesiredHash)
	u.SetAnnotations(annotations)
	// The fingerprint of everything above: a live object that carries it
	// and every desired field is exactly what rgd would apply.
	annotations[metadata.AnnotationDesiredHash] = hashObject(u.Object)
	u.SetAnnotations(annotations)
}

// desiredHash is the fingerprint decorate stamped on a desired child.
func desiredHash(desired *unstructured.Unstructured) string {
	return desired.GetAnnotations()[metadata.AnnotationDesiredHash]
}

// upToDate reports whether applying desired would change nothing: either
// rgd applied this very desired state and nobody touched the object since,
// or the live object holds every desired field, including the desired-hash
// annotation (so a field removed from the template is not up to date).
func (r *Reconciler) upToDate(live, desired *unstructured.Unstructured) bool {
	h := desiredHash(desired)
	if v, ok := r.applied.Load(live.GetUID()); ok {
		rec := v.(appliedRecord)
		if rec.hash == h && rec.resourceVersion == live.GetResourceVersion() {
			return true
		}
	}
	if covers(live.Object, desired.Object) {
		r.applied.Store(live.GetUID(), appliedRecord{hash: h, resourceVersion: live.GetResourceVersion()})
		return true
	}
	return false
}

// observeExternal reads an external reference from the cache.
func (p *pass) observeExternal(res *graph.Resource, ref map[string]any, ns *nodeState) {
	ns.complete = true
	cache, ok := p.r.watches.Cache(watch.Key{GVR: res.GVR})
	if !ok {
		ns.state, ns.message = stateWaiting, fmt.Sprintf("the informer of %s is not running", res.GVR)
		return
	}
	md, _ := ref["metadata"].(map[string]any)
	namespace, _ := md["namespace"].(string)
	if namespace == "" && res.Namespaced {
		namespace = p.inst.GetNamespace()
	}
	if sel, isSelector := md["selector"]; isSelector {
		p.r.trackSelector(p.key, res.GVR)
		ls := &metav1.LabelSelector{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(sel.(map[string]any), ls); err != nil {
			ns.state, ns.message = stateError, fmt.Sprintf("externalRef selector: %v", err)
			return
		}
		selector, err := metav1.LabelSelectorAsSelector(ls)
		if err != nil {
			ns.state, ns.message = stateError, fmt.Sprintf("externalRef selector: %v", err)
			return
		}
		if !res.Namespaced {
			namespace = ""
		}
		if ref["metadata"].(map[string]any)["namespace"] == nil {
			namespace = "" // a selector without a namespace looks everywhere, as kro
		}
		items := cache.List(namespace, selector)
		slices.SortFunc(items, func(a, b *unstructured.Unstructured) int {
			return strings.Compare(a.GetNamespace()+"/"+a.GetName(), b.GetNamespace()+"/"+b.GetName())
		})
		list := make([]any, len(items))
		for i, it := range items {
			list[i] = it.Object
		}
		p.observed(res, list, ns)
		return
	}
	name, _ := md["name"].(string)
	p.r.trackExternal(p.key, res.GVR, namespace, name)
	obj, found := cache.Get(namespace, name)
	if !found {
		ns.state = stateWaiting
		ns.message = fmt.Sprintf("waiting for the external %s %s to exist", res.GVK.Kind, joinName(namespace, name))
		return
	}
	p.observed(res, obj.Object, ns)
}

// observed records a resource's live state and judges its readiness.
func (p *pass) observed(res *graph.Resource, obj any, ns *nodeState) {
	p.in.Set(res.ID, obj)
	ready, reason, err := render.Ready(res, obj)
	switch {
	case err != nil:
		ns.state, ns.message = stateError, err.Error()
	case ready:
		ns.state, ns.ready = stateSynced, true
	default:
		ns.state, ns.message = stateWaiting, "not ready: "+reason
	}
}

// execute runs the writes of a level in parallel, bounded.
func (p *pass) execute(ctx context.Context, actions []*action) {
	sem := make(chan struct{}, p.r.opts.ApplyConcurrency)
	var wg sync.WaitGroup
	for _, a := range actions {
		if a.err != nil || a.message != "" || a.upToDate {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p.write(ctx, a)
		}()
	}
	wg.Wait()
}

// write creates or applies one child.
//
// A create never forces: the caches said the name is free, and should an
// object of someone else's have appeared since, the API server either
// refuses every field rgd would change (a conflict: rgd then reads the
// object to decide, as it would have before the create), or, when no field
// conflicts, merges rgd's fields and answers 200 instead of 201 (rgd then
// takes its fields back out and refuses the object, see foundAtCreate).
// Updates of rgd's own children, and allowed take-overs, force rgd's fields
// back.
func (p *pass) write(ctx context.Context, a *action) {
	client := p.r.dyn.Resource(a.node.GVR).Namespace(a.obj.GetNamespace())
	h := desiredHash(a.obj)
	var out *unstructured.Unstructured
	var err error
	if a.create {
		var created bool
		out, created, err = p.r.applyNew(ctx, client, a)
		switch {
		case apierrors.IsConflict(err):
			out, err = p.createContested(ctx, client, a)
		case err == nil && !created:
			out, err = p.foundAtCreate(ctx, client, a, out)
		}
		if out == nil && err == nil {
			return // refused: a.err says why
		}
	} else {
		out, err = client.Apply(ctx, a.obj.GetName(), a.obj, metav1.ApplyOptions{FieldManager: metadata.FieldManagerChildren, Force: true})
	}
	if err != nil {
		if isNamespaceMissing(err) {
			a.message = fmt.Sprintf("waiting for namespace %s to exist", a.obj.GetNamespace())
			p.requeueAfter(2 * time.Second)
			return
		}
		a.err = err
		return
	}
	// The response carries managedFields, which rgd never reads: do not
	// hold them while the object stands in for the cache.
	out.SetManagedFields(nil)
	a.result = out
	p.r.applied.Store(out.GetUID(), appliedRecord{hash: h, resourceVersion: out.GetResourceVersion()})
	wk := writtenKey{gvr: a.node.GVR, namespace: out.GetNamespace(), name: out.GetName()}
	p.r.written.Store(wk, writtenObject{obj: out, at: time.Now()})
	// A deletion of an older object under this name proves nothing about
	// this one.
	p.r.deletions.settle(wk)
	switch {
	case a.create:
		p.changed("Created", a.entry)
	case a.live != nil:
		p.changed("Updated", a.entry)
	default:
		p.changed("Adopted", a.entry)
	}
}

// changed records a child's write for the pass's events.
func (p *pass) changed(reason string, e Entry) {
	p.changesMu.Lock()
	defer p.changesMu.Unlock()
	if p.changes == nil {
		p.changes = map[string][]string{}
	}
	p.changes[reason] = append(p.changes[reason], e.String())
}

// maxEventChildren bounds how many children one event names.
const maxEventChildren = 10

// recordChanges emits one event per kind of change the pass made, naming
// the children (the first maxEventChildren of them). Creations by an
// instance's first pass are not reported (see pass.firstPass): events are
// for changes to a running stack.
func (p *pass) recordChanges() {
	for _, c := range changeReasons {
		names := p.changes[c.reason]
		if len(names) == 0 || (p.firstPass && c.reason == "Created") {
			continue
		}
		msg := strings.Join(names[:min(len(names), maxEventChildren)], ", ")
		if len(names) > maxEventChildren {
			msg += fmt.Sprintf(" and %d more", len(names)-maxEventChildren)
		}
		p.r.event(p.inst, "Normal", c.reason, "%s %s", c.verb, msg)
	}
}

// changeReasons are the event reasons of a pass's writes, in the order
// their events are emitted, with the verb each message starts with.
var changeReasons = []struct{ reason, verb string }{
	{"Created", "created"}, {"Updated", "updated"}, {"Adopted", "took over"}, {"Deleted", "deleted"},
}

// createContested handles a create the API server found conflicting: the
// object exists after all. It is applied (forced) if it is this instance's
// (the caches lagged behind) or if the RGD allows taking over; otherwise
// a.err is set and nothing is written.
func (p *pass) createContested(ctx context.Context, client dynamic.ResourceInterface, a *action) (*unstructured.Unstructured, error) {
	existing, err := client.Get(ctx, a.obj.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		// Gone again meanwhile: create it.
	case err != nil:
		return nil, err
	case p.inst.GetUID() != "" && existing.GetLabels()[metadata.LabelInstanceID] == string(p.inst.GetUID()):
		// Ours.
	case !p.st.kind.AdoptExisting:
		p.r.trackExternal(p.key, a.node.GVR, a.obj.GetNamespace(), a.obj.GetName())
		a.err = p.refuseAdoption(a)
		return nil, nil
	default:
		a.create, a.adopt = false, true
	}
	return client.Apply(ctx, a.obj.GetName(), a.obj, metav1.ApplyOptions{FieldManager: metadata.FieldManagerChildren, Force: true})
}

func isNamespaceMissing(err error) bool {
	if !apierrors.IsNotFound(err) {
		return false
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		d := status.Status().Details
		return d != nil && d.Kind == "namespaces"
	}
	return false
}

// retryLater records a failure that may heal: the pass fails with it once
// the instance's status has been written.
func (p *pass) retryLater(err error) {
	p.retryMu.Lock()
	defer p.retryMu.Unlock()
	p.retry = errors.Join(p.retry, err)
}

// refusedError is a child rgd will not write: its name is held by an object
// rgd did not create for this instance. Retrying changes nothing; an event
// of that object, or of the instance or its RGD, brings the instance back.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

// retryable reports whether a failed write may succeed when tried again
// unchanged. Only rgd's own refusals and the API server's verdicts on the
// object itself (invalid, malformed) are final; anything else (5xx, 429,
// timeouts, conflicts, lost connections, lost answers, a permission not
// granted yet) is retried.
func retryable(err error) bool {
	var refused *refusedError
	switch {
	case errors.As(err, &refused),
		apierrors.IsInvalid(err),
		apierrors.IsBadRequest(err),
		apierrors.IsMethodNotSupported(err),
		apierrors.IsNotAcceptable(err),
		apierrors.IsUnsupportedMediaType(err),
		apierrors.IsRequestEntityTooLargeError(err):
		return false
	}
	return true
}

func (p *pass) requeueAfter(d time.Duration) {
	if p.requeue == 0 || d < p.requeue {
		p.requeue = d
	}
}

// finish judges a resource after its writes: its observed state is the
// write's result or the live object.
func (p *pass) finish(res *graph.Resource, actions []*action) {
	ns := p.states[res.ID]
	if ns.state != "" {
		return // decided while planning
	}
	var mine []*action
	for _, a := range actions {
		if a.node == res {
			mine = append(mine, a)
		}
	}
	var problems, waits []string
	observed := make([]any, 0, len(mine))
	for _, a := range mine {
		switch {
		case a.err != nil && retryable(a.err):
			problems = append(problems, a.err.Error()+" (retrying with backoff)")
			p.retryLater(fmt.Errorf("resource %s: %w", res.ID, a.err))
		case a.err != nil:
			problems = append(problems, a.err.Error())
		case a.message != "":
			waits = append(waits, a.message)
		case a.result != nil:
			observed = append(observed, a.result.Object)
		case a.live != nil:
			observed = append(observed, a.live.Object)
		}
	}
	switch {
	case len(problems) > 0:
		ns.state, ns.message = stateError, strings.Join(problems, "; ")
		p.r.event(p.inst, "Warning", "ApplyFailed", "resource %s: %s", res.ID, ns.message)
	case len(waits) > 0:
		ns.state, ns.message = stateInProgress, strings.Join(waits, "; ")
	case len(res.ForEach) > 0:
		p.observed(res, observed, ns)
	case len(observed) == 1:
		p.observed(res, observed[0], ns)
	default:
		ns.state, ns.message = stateInProgress, "not observed yet"
	}
}

func joinName(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// prune deletes children the instance no longer produces: resources gone
// from the graph, excluded by includeWhen, or dropped from a forEach list.
// Only objects that carry this instance's id are deleted; entries whose
// objects are gone leave the inventory.
func (p *pass) prune(ctx context.Context) error {
	var gone, stale []Entry
	for _, e := range p.inv {
		ns, inGraph := p.states[e.Node]
		switch {
		case inGraph && !ns.complete:
			continue // not fully rendered: keep
		case inGraph && ns.state != stateSkipped && slices.ContainsFunc(ns.desired, func(d Entry) bool { return d.ref() == e.ref() }):
			continue // still desired
		}
		stale = append(stale, e)
	}
	for _, e := range stale {
		deleted, issued, err := p.r.deleteChild(ctx, p.inst, e)
		if err != nil {
			return err
		}
		if issued {
			p.changed("Deleted", e)
		}
		if deleted {
			gone = append(gone, e)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	return p.saveInventory(ctx, p.inv.without(gone...))
}

// deleteChild deletes one child if it exists and carries the instance's id.
// It reports whether the child is gone (or was never rgd's to delete), and
// whether it issued the deletion now. A child is gone when the cache and
// the API server agree, when the API server's answer to rgd's DELETE says
// so, or when its informer delivered the Deleted event of the UID rgd
// deleted.
func (r *Reconciler) deleteChild(ctx context.Context, inst *unstructured.Unstructured, e Entry) (gone, issued bool, err error) {
	gvr := e.GVR()
	var live *unstructured.Unstructured
	if cache, ok := r.watches.Cache(childKey(gvr)); ok {
		live, _ = cache.Get(e.Namespace, e.Name)
	}
	wk := writtenKey{gvr: gvr, namespace: e.Namespace, name: e.Name}
	if live == nil {
		if r.deletions.takeSeen(wk) {
			// rgd deleted it and its informer has seen it go.
			return true, false, nil
		}
		// The cache may lag behind a create: only the API server can say
		// that a child is gone.
		obj, err := r.dyn.Resource(gvr).Namespace(e.Namespace).Get(ctx, e.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			r.deletions.settle(wk)
			return true, false, nil
		}
		if err != nil {
			return false, false, err
		}
		live = obj
	}
	if live.GetLabels()[metadata.LabelInstanceID] != string(inst.GetUID()) {
		// Not proven to be this instance's: never delete it, just stop
		// tracking it.
		return true, false, nil
	}
	if live.GetDeletionTimestamp() != nil {
		return false, false, nil
	}
	uid := live.GetUID()
	policy := metav1.DeletePropagationBackground
	r.deletions.expect(wk, uid) // before the request: its event may come before the answer
	gone, err = r.deleteObject(ctx, gvr, e.Namespace, e.Name, metav1.DeleteOptions{
		Preconditions:     &metav1.Preconditions{UID: &uid},
		PropagationPolicy: &policy,
	})
	if gone || err != nil {
		// Proven gone, or not deleted now: no event is awaited.
		r.deletions.settle(wk)
	}
	switch {
	case apierrors.IsNotFound(err):
		return true, false, nil
	case apierrors.IsConflict(err):
		return false, false, nil // replaced meanwhile; look again next time
	case err != nil:
		return false, false, fmt.Errorf("deleting %s: %w", e, err)
	}
	r.applied.Delete(uid)
	r.written.Delete(wk)
	return gone, true, nil
}

func (r *Reconciler) event(obj runtime.Object, eventType, reason, format string, args ...any) {
	if r.opts.Recorder != nil {
		r.opts.Recorder.Eventf(obj, eventType, reason, format, args...)
	}
}

// writtenObject is a child as rgd's write returned it.
type writtenObject struct {
	obj *unstructured.Unstructured
	at  time.Time
}

// writtenTTL bounds how long a write stands in for the cache: informers
// catch up in milliseconds, and a longer wait means something else happened.
const writtenTTL = 5 * time.Second

// olderVersion reports whether a's resourceVersion is older than b's. They
// are opaque strings to clients, but etcd's are increasing integers; when
// they are not numbers, the cache is trusted.
func olderVersion(a, b *unstructured.Unstructured) bool {
	va, errA := strconv.ParseUint(a.GetResourceVersion(), 10, 64)
	vb, errB := strconv.ParseUint(b.GetResourceVersion(), 10, 64)
	return errA == nil && errB == nil && va < vb
}
