package instance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/rgd-dev/rgd/internal/inventory"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

// Applying: where a child is written. Creates never force and tell rgd's own
// objects from anybody else's; updates and allowed take-overs force rgd's
// fields back. One event per kind of change per pass.

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
	client := p.actor.dyn.Resource(a.node.GVR).Namespace(a.obj.GetNamespace())
	var out *unstructured.Unstructured
	var err error
	if a.create {
		var created bool
		out, created, err = applyNew(ctx, p.actor, client, a)
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
		out, err = p.applyOwned(ctx, client, a)
	}
	if err != nil {
		verb := "patch"
		if a.create {
			verb = "create"
		}
		err = p.actor.refused(err, verb, a.entry)
		if isNamespaceMissing(err) {
			a.message = fmt.Sprintf("waiting for namespace %s to exist", a.obj.GetNamespace())
			p.requeueAfter(2 * time.Second)
			return
		}
		a.err = err
		return
	}
	// The response carries managedFields, which rgd reads only for
	// external fields: do not hold them otherwise while the object stands
	// in for the cache.
	if len(a.node.ExternalFields) == 0 {
		out.SetManagedFields(nil)
	}
	a.result = out
	p.r.memory.rememberApplied(out, desiredHash(a.obj))
	p.r.memory.rememberChild(a.node.GVR, out)
	// A deletion of an older object under this name proves nothing about
	// this one.
	p.r.deletions.settle(writtenKey{gvr: a.node.GVR, namespace: out.GetNamespace(), name: out.GetName()})
	switch {
	case a.create:
		p.changed("Created", a.entry)
	case a.live != nil:
		p.changed("Updated", a.entry)
	default:
		p.changed("Adopted", a.entry)
	}
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
		p.r.routes.trackExternal(p.key, a.node.GVR, a.obj.GetNamespace(), a.obj.GetName())
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

// applyNew applies a child the caches say does not exist, without force,
// and reports whether the API server created it (201 Created) or found it
// (200 OK). Without a REST client (Options.Client) the answer's code is not
// read and a success counts as a creation. It writes as act.
func applyNew(ctx context.Context, act actor, client dynamic.ResourceInterface, a *action) (out *unstructured.Unstructured, created bool, err error) {
	if act.rest == nil {
		out, err = client.Apply(ctx, a.obj.GetName(), a.obj, metav1.ApplyOptions{FieldManager: metadata.FieldManagerChildren})
		return out, err == nil, err
	}
	body, err := a.obj.MarshalJSON()
	if err != nil {
		return nil, false, err
	}
	var code int
	answer := act.rest.Patch(types.ApplyPatchType).
		AbsPath(objectPath(a.node.GVR, a.obj.GetNamespace(), a.obj.GetName())...).
		Param("fieldManager", metadata.FieldManagerChildren).
		SetHeader("Accept", "application/json").
		Body(body).
		Do(ctx).
		StatusCode(&code)
	raw, err := answerBody(answer)
	if err != nil {
		return nil, false, err
	}
	out = &unstructured.Unstructured{}
	if err := out.UnmarshalJSON(raw); err != nil {
		return nil, false, fmt.Errorf("reading the API server's answer to the create of %s: %w", a.entry, err)
	}
	return out, code == http.StatusCreated, nil
}

// createdEarlier reports whether an object that a create found existing is
// this instance's child created by an earlier write of rgd whose answer
// never arrived: it carries this instance's id, and rgd's field manager is
// the only one that ever wrote it. An object anybody else created or
// touched has that somebody among its managers.
func (p *pass) createdEarlier(found *unstructured.Unstructured) bool {
	if p.inst.GetUID() == "" || found.GetLabels()[metadata.LabelInstanceID] != string(p.inst.GetUID()) {
		return false
	}
	managers := found.GetManagedFields()
	if len(managers) == 0 {
		return false
	}
	for _, m := range managers {
		if m.Manager != metadata.FieldManagerChildren {
			return false
		}
	}
	return true
}

// foundAtCreate handles a create the API server carried out on an object
// that existed after all, though neither cache had it: someone else's
// object appeared in the moment between cache and write. None of rgd's
// fields conflicted with its owner's (a conflict would have refused the
// write), so rgd's fields were merged into it. Unless the RGD allows taking
// objects over, rgd takes its fields back out with an empty apply (which
// removes exactly the fields rgd alone owns, and leaves the owner's values
// as they were) and refuses the object.
func (p *pass) foundAtCreate(ctx context.Context, client dynamic.ResourceInterface, a *action, found *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if p.createdEarlier(found) {
		// rgd's own create, whose answer was lost (or came after the
		// caches were read): the object is this instance's child.
		return found, nil
	}
	p.r.routes.trackExternal(p.key, a.node.GVR, a.obj.GetNamespace(), a.obj.GetName())
	if p.st.kind.AdoptExisting {
		a.create, a.adopt = false, true
		return client.Apply(ctx, a.obj.GetName(), a.obj, metav1.ApplyOptions{FieldManager: metadata.FieldManagerChildren, Force: true})
	}
	empty := &unstructured.Unstructured{}
	empty.SetAPIVersion(a.obj.GetAPIVersion())
	empty.SetKind(a.obj.GetKind())
	empty.SetName(a.obj.GetName())
	empty.SetNamespace(a.obj.GetNamespace())
	if _, err := client.Apply(ctx, a.obj.GetName(), empty, metav1.ApplyOptions{FieldManager: metadata.FieldManagerChildren}); err != nil {
		return nil, fmt.Errorf("%s existed although rgd's caches did not have it, and taking rgd's fields back out of it failed: %w", a.entry, err)
	}
	a.err = p.refuseAdoption(a)
	return nil, nil
}

// changed records a child's write for the pass's events.
func (p *pass) changed(reason string, e inventory.Entry) {
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
	{"Orphaned", "released (left in place by their deletionPolicy)"},
}
