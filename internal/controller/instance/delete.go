package instance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/rgd-dev/rgd/internal/inventory"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

// deleteObject issues one DELETE and reports whether the API server's answer
// proves that the object is gone already. The API server answers an
// immediate deletion with a Status of success naming the deleted UID (or,
// for some resources, with the object as it was, without a
// deletionTimestamp); a deletion that waits for finalizers or a grace period
// is answered with the object carrying a deletionTimestamp. Without a REST
// client (Options.Client) nothing is proven here and the informer's Deleted
// event is the proof. It deletes as act.
func deleteObject(ctx context.Context, act actor, gvr schema.GroupVersionResource, namespace, name string, opts metav1.DeleteOptions) (gone bool, err error) {
	if act.rest == nil {
		return false, act.dyn.Resource(gvr).Namespace(namespace).Delete(ctx, name, opts)
	}
	opts.TypeMeta = metav1.TypeMeta{Kind: "DeleteOptions", APIVersion: "v1"}
	body, err := json.Marshal(&opts)
	if err != nil {
		return false, err
	}
	answer := act.rest.Delete().
		AbsPath(objectPath(gvr, namespace, name)...).
		SetHeader("Content-Type", "application/json").
		SetHeader("Accept", "application/json").
		Body(body).
		Do(ctx)
	raw, err := answerBody(answer)
	if err != nil {
		return false, err
	}
	return deletedNow(raw, opts.Preconditions), nil
}

// answerBody returns the body of a successful answer. A failure is read
// with Error, not Raw, which decodes the API server's Status (its message,
// reason and details), where Raw's error says only "unknown".
func answerBody(answer rest.Result) ([]byte, error) {
	if err := answer.Error(); err != nil {
		return nil, err
	}
	return answer.Raw()
}

// objectPath is the REST path of one object.
func objectPath(gvr schema.GroupVersionResource, namespace, name string) []string {
	path := []string{"/apis", gvr.Group, gvr.Version}
	if gvr.Group == "" {
		path = []string{"/api", gvr.Version}
	}
	if namespace != "" {
		path = append(path, "namespaces", namespace)
	}
	return append(path, gvr.Resource, name)
}

// deletedNow reads a successful DELETE's answer. Anything it cannot read
// proves nothing.
func deletedNow(raw []byte, pre *metav1.Preconditions) bool {
	var answer struct {
		Kind    string `json:"kind"`
		Status  string `json:"status"`
		Details *struct {
			UID types.UID `json:"uid"`
		} `json:"details"`
		Metadata *struct {
			UID               types.UID    `json:"uid"`
			DeletionTimestamp *metav1.Time `json:"deletionTimestamp"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		return false
	}
	want := types.UID("")
	if pre != nil && pre.UID != nil {
		want = *pre.UID
	}
	switch {
	case answer.Kind == "Status":
		return answer.Status == metav1.StatusSuccess && answer.Details != nil && (want == "" || answer.Details.UID == want)
	case answer.Metadata != nil:
		return answer.Metadata.DeletionTimestamp == nil && (want == "" || answer.Metadata.UID == want)
	}
	return false
}

// deletions tracks the children rgd deleted until it has proof that they
// are gone: the API server's answer, or the informer's Deleted event for
// the UID rgd deleted.
type deletions struct {
	mu sync.Mutex
	m  map[writtenKey]deletion
}

type deletion struct {
	uid  types.UID
	seen bool // the informer delivered its Deleted event
}

// expect records a deletion about to be issued. It comes before the
// request, because the event may arrive before the answer.
func (d *deletions) expect(k writtenKey, uid types.UID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[writtenKey]deletion{}
	}
	d.m[k] = deletion{uid: uid}
}

// observe records a Deleted event; it counts only for the UID rgd deleted.
func (d *deletions) observe(k writtenKey, uid types.UID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.m[k]; ok && e.uid == uid {
		e.seen = true
		d.m[k] = e
	}
}

// settle forgets k: its deletion is proven otherwise, failed, or a new
// object was written under its name.
func (d *deletions) settle(k writtenKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.m, k)
}

// takeSeen reports, and forgets, a deletion whose event has been seen.
func (d *deletions) takeSeen(k writtenKey) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.m[k]; ok && e.seen {
		delete(d.m, k)
		return true
	}
	return false
}

// pending is the number of deletions not settled yet (for tests).
func (d *deletions) pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.m)
}

// staleEntries returns the entries of the inventory that the pass's states
// say the instance no longer produces. A resource that could not be fully
// rendered (waiting for data, failed) keeps all its entries: what it would
// produce is not known.
func staleEntries(inv inventory.Inventory, states map[string]*nodeState) []inventory.Entry {
	var stale []inventory.Entry
	for _, e := range inv {
		ns, inGraph := states[e.Node]
		switch {
		case inGraph && !ns.complete:
			continue // not fully rendered: keep
		case inGraph && ns.state != stateSkipped && slices.ContainsFunc(ns.desired, func(d inventory.Entry) bool { return d.Same(e) }):
			continue // still desired
		}
		stale = append(stale, e)
	}
	return stale
}

// prune deletes children the instance no longer produces: resources gone
// from the graph, excluded by includeWhen, or dropped from a forEach list.
// Children whose resource's deletionPolicy orphans them are released
// instead (left in place without rgd's labels and annotations). Only
// objects that carry this instance's id are touched; entries whose objects
// are gone or released leave the inventory.
func (p *pass) prune(ctx context.Context) error {
	var gone []inventory.Entry
	for _, e := range staleEntries(p.inv, p.states) {
		if res := p.g.Resource(e.Node); res != nil && !res.External {
			// The graph's policy is the latest word; the recorded one
			// serves resources that left the graph.
			e.Orphan = res.Orphans()
		}
		done, issued, err := p.r.deleteChild(ctx, p.inst, e)
		var refused *forbiddenError
		if errors.As(err, &refused) {
			// Said in the status, and retried with backoff as the same
			// ServiceAccount.
			p.pruneRefused = append(p.pruneRefused, err.Error())
			p.retryLater(err)
			continue
		}
		if err != nil {
			return err
		}
		switch {
		case issued && e.Orphan:
			p.changed("Orphaned", e)
		case issued:
			p.changed("Deleted", e)
		}
		if done {
			gone = append(gone, e)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	return p.saveInventory(ctx, p.inv.Without(gone...))
}

// deleteChild deletes one child, or releases it when its entry says to
// leave it in place (Entry.Orphan), if it exists and carries the
// instance's id. It reports whether the child is gone or released (or was
// never rgd's to touch), and whether it issued the deletion or release now.
// A child is gone when the cache and the API server agree, when the API
// server's answer to rgd's DELETE says so, or when its informer delivered
// the Deleted event of the UID rgd deleted. Every request is made as the
// identity the entry records (Entry.SA).
func (r *Reconciler) deleteChild(ctx context.Context, inst *unstructured.Unstructured, e inventory.Entry) (gone, issued bool, err error) {
	act, err := r.actorOf(e)
	if err != nil {
		return false, false, err
	}
	live, err := r.liveChild(ctx, e)
	switch {
	case err != nil:
		return false, false, err
	case live == nil:
		return true, false, nil
	case live.GetLabels()[metadata.LabelInstanceID] != string(inst.GetUID()):
		// Not proven to be this instance's (or released already): never
		// touch it, just stop tracking it.
		return true, false, nil
	case e.Orphan:
		released, err := r.releaseChild(ctx, act, live, e)
		return released, released, err
	case live.GetDeletionTimestamp() != nil:
		return false, false, nil
	}
	return r.deleteLive(ctx, act, live, e)
}

// liveChild reads a child from the cache, or from the API server when the
// cache does not have it; nil when it is gone. It reads as the engine, which
// watches every child kind: the ServiceAccount a child was recorded with may
// never have been allowed to read it (its create was refused), and the
// deletion that follows is made as that ServiceAccount, guarded by the UID
// read here. The read is a list by name, which needs no permission beyond
// the list the engine's informers need.
func (r *Reconciler) liveChild(ctx context.Context, e inventory.Entry) (*unstructured.Unstructured, error) {
	gvr := e.GVR()
	if cache, ok := r.watches.Cache(childKey(gvr)); ok {
		if live, found := cache.Get(e.Namespace, e.Name); found {
			return live, nil
		}
	}
	wk := writtenKey{gvr: gvr, namespace: e.Namespace, name: e.Name}
	if r.deletions.takeSeen(wk) {
		// rgd deleted it and its informer has seen it go.
		return nil, nil
	}
	// The cache may lag behind a create: only the API server can say
	// that a child is gone.
	list, err := r.dyn.Resource(gvr).Namespace(e.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + e.Name})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", e, err)
	}
	if len(list.Items) == 0 {
		r.deletions.settle(wk)
		return nil, nil
	}
	return &list.Items[0], nil
}

// deleteLive deletes a child of the instance as act, guarded by its UID.
func (r *Reconciler) deleteLive(ctx context.Context, act actor, live *unstructured.Unstructured, e inventory.Entry) (gone, issued bool, err error) {
	gvr := e.GVR()
	wk := writtenKey{gvr: gvr, namespace: e.Namespace, name: e.Name}
	uid := live.GetUID()
	policy := metav1.DeletePropagationBackground
	r.deletions.expect(wk, uid) // before the request: its event may come before the answer
	gone, err = deleteObject(ctx, act, gvr, e.Namespace, e.Name, metav1.DeleteOptions{
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
		return false, false, fmt.Errorf("deleting %s: %w", e, act.refused(err, "delete", e))
	}
	r.memory.forgetChild(wk, uid)
	return gone, true, nil
}
