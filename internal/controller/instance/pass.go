package instance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/rgd-dev/rgd/internal/conditions"
	"github.com/rgd-dev/rgd/internal/inventory"
	"github.com/rgd-dev/rgd/internal/reconcile"
	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/graph"
	"github.com/rgd-dev/rgd/pkg/metadata"
	"github.com/rgd-dev/rgd/pkg/render"
)

// One pass of the instance controller over one instance: read it, make sure
// rgd manages it (inventory.go), walk the graph level by level (plan.go
// decides, apply.go writes, external.go reads what others own), prune what
// the graph no longer produces (delete.go) and write the status (status.go).

// resourceState is what a pass found out about one resource, as kro names
// the states. The zero value means undecided (planned writes not done yet).
type resourceState string

// Resource states.
const (
	stateSynced     resourceState = "SYNCED"
	stateInProgress resourceState = "IN_PROGRESS"
	stateWaiting    resourceState = "WAITING_FOR_READINESS"
	stateSkipped    resourceState = "SKIPPED"
	stateError      resourceState = "ERROR"
)

// schemaSettleTime is how long after an instance schema change reconciles
// read instances from the API server instead of the cache.
const schemaSettleTime = 2 * time.Minute

// nodeState is what one pass found out about one resource of the graph.
type nodeState struct {
	state   resourceState
	message string
	ready   bool
	// complete is true when every object of the resource was rendered, so
	// that objects it no longer produces may be pruned.
	complete bool
	// desired holds the identities of the objects the resource produces.
	desired []inventory.Entry
	// pendingData is true when the resource waits for data an expression
	// reads that is not there yet (a field of another resource's status).
	pendingData bool
}

// pass holds the state of one reconcile of one instance.
type pass struct {
	r      *Reconciler
	st     *kindState
	key    Key
	inst   *unstructured.Unstructured
	g      *graph.Graph
	in     *render.Inputs
	states map[string]*nodeState
	inv    inventory.Inventory
	// actor is the identity the pass writes children with (see
	// Kind.ServiceAccount).
	actor    actor
	requeue  time.Duration
	graphErr error
	// retry joins the failed writes of this pass that may succeed when
	// tried again: the pass returns it, so the instance is retried with
	// backoff after its status has said what failed.
	retryMu sync.Mutex
	retry   error
	// pruneRefused are the prunings the API server refused to the
	// ServiceAccount a child was written as (see prune).
	pruneRefused []string

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
	entry  inventory.Entry
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
	inst, err := r.readInstance(ctx, st, key, cached)
	if inst == nil || err != nil {
		return reconcile.Result{}, err
	}
	inv, invErr := inventory.Read(inst.GetAnnotations())
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
		return reconcile.Result{}, r.writeStatus(ctx, st.gvr, inst, nil, v1alpha1.InstanceStateError, []metav1.Condition{
			conditions.False(condManaged, "InvalidInventory", invErr.Error()),
		})
	}
	firstPass := !slices.Contains(inst.GetFinalizers(), metadata.Finalizer)
	inst, inv, err = r.ensureManaged(ctx, st, inst, inv)
	if err != nil {
		return reconcile.Result{}, err
	}
	if metadata.IsSuspended(inst.GetAnnotations()) {
		return reconcile.Result{}, r.writeStatus(ctx, st.gvr, inst, currentStatusFields(inst), stateOf(inst), []metav1.Condition{
			managed(),
			conditions.False(condResourcesReady, "ReconciliationSuspended",
				fmt.Sprintf("reconciliation is suspended by the annotation %s", metadata.AnnotationReconcile)),
		})
	}

	act, err := r.actorFor(st.kind.ServiceAccount, inst.GetNamespace())
	if err != nil {
		// The RGD names a ServiceAccount this instance cannot have: only a
		// change of the RGD helps.
		return reconcile.Result{}, r.writeStatus(ctx, st.gvr, inst, currentStatusFields(inst), v1alpha1.InstanceStateError, []metav1.Condition{
			managed(),
			conditions.False(condResourcesReady, "ServiceAccountUnusable", fmt.Sprintf("the ResourceGraphDefinition %s names %s: %v", st.kind.RGDName, metadata.AnnotationServiceAccount, err)),
		})
	}
	p := &pass{
		r: r, st: st, key: key, inst: inst, g: st.kind.Graph,
		states: map[string]*nodeState{}, inv: inv, firstPass: firstPass, actor: act,
	}
	p.in = render.NewInputs(p.g, inst.Object, nil).ObserveEvaluations(r.opts.EvalObserver)
	return p.run(ctx)
}

// readInstance returns the instance to reconcile: the newer of the cache's
// and rgd's own last write of it, or, right after a schema change, the API
// server's (the cache may hold it without the new defaults, which the API
// server applies on read). nil, without error, when it is gone.
func (r *Reconciler) readInstance(ctx context.Context, st *kindState, key Key, cached *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	inst := r.memory.latestInstance(st.gvr, cached).DeepCopy()
	if st.schemaChanged.IsZero() || time.Since(st.schemaChanged) >= schemaSettleTime {
		return inst, nil
	}
	fresh, err := r.dyn.Resource(st.gvr).Namespace(key.Namespace).Get(ctx, key.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		r.forget(key)
		return nil, nil
	case err != nil:
		return nil, err
	}
	return fresh, nil
}

// run walks the graph, prunes and writes the status. It fails with the
// writes that may heal, once the status has said what failed.
func (p *pass) run(ctx context.Context) (reconcile.Result, error) {
	st := p.st
	err := p.walk(ctx)
	if err != nil {
		p.recordChanges()
		return reconcile.Result{}, err
	}
	if !st.schemaChanged.IsZero() && time.Since(st.schemaChanged) < schemaSettleTime {
		for _, ns := range p.states {
			if ns.state == stateInProgress && ns.pendingData {
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

// walk renders, applies and checks the readiness of every resource, level by
// level: the writes of one level run in parallel, and a level starts as soon
// as the previous one is done, in the same reconcile.
func (p *pass) walk(ctx context.Context) error {
	for _, level := range p.st.layout.levels {
		var actions []*action
		for _, res := range level {
			actions = append(actions, p.plan(res)...)
		}
		var record []inventory.Entry
		for _, a := range actions {
			if a.err == nil && a.message == "" {
				// The children to create or take over, and the deletion
				// policy of those there already: recorded before any write.
				record = append(record, a.entry)
			}
		}
		if err := p.recordInventory(ctx, record); err != nil {
			return err
		}
		p.execute(ctx, actions)
		if err := p.recordWriters(ctx, actions); err != nil {
			return err
		}
		for _, res := range level {
			p.finish(res, actions)
		}
	}
	return nil
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

func (p *pass) requeueAfter(d time.Duration) {
	if p.requeue == 0 || d < p.requeue {
		p.requeue = d
	}
}

func joinName(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

func (r *Reconciler) event(obj runtime.Object, eventType, reason, format string, args ...any) {
	if r.opts.Recorder != nil {
		r.opts.Recorder.Eventf(obj, eventType, reason, format, args...)
	}
}
