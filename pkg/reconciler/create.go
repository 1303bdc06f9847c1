package reconciler

import (
	"context"
	"fmt"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/rgd-dev/rgd/pkg/metadata"
)

// applyNew applies a child the caches say does not exist, without force,
// and reports whether the API server created it (201 Created) or found it
// (200 OK). Without a REST client (Options.Client) the answer's code is not
// read and a success counts as a creation.
func (r *Reconciler) applyNew(ctx context.Context, client dynamic.ResourceInterface, a *action) (out *unstructured.Unstructured, created bool, err error) {
	if r.opts.Client == nil {
		out, err = client.Apply(ctx, a.obj.GetName(), a.obj, metav1.ApplyOptions{FieldManager: metadata.FieldManagerChildren})
		return out, err == nil, err
	}
	body, err := a.obj.MarshalJSON()
	if err != nil {
		return nil, false, err
	}
	var code int
	answer := r.opts.Client.Patch(types.ApplyPatchType).
		AbsPath(objectPath(a.node.GVR, a.obj.GetNamespace(), a.obj.GetName())...).
		Param("fieldManager", metadata.FieldManagerChildren).
		SetHeader("Accept", "application/json").
		Body(body).
		Do(ctx).
		StatusCode(&code)
	// Error, not Raw, decodes the API server's Status: its message, reason
	// and details (Raw's error says only "unknown").
	if err := answer.Error(); err != nil {
		return nil, false, err
	}
	raw, err := answer.Raw()
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
	p.r.trackExternal(p.key, a.node.GVR, a.obj.GetNamespace(), a.obj.GetName())
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
