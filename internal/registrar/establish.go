package registrar

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// errDeleted ends a wait when the CRD disappears.
var errDeleted = errors.New("CRD was deleted while waiting for it to be Established")

// establishState classifies a CRD's status: done when it is Established with
// all its requested names accepted; an error when the names were refused. A
// NamesAccepted=False condition equal to stale (the verdict on names that
// have since been replaced) counts as pending.
func establishState(crd *apiextensionsv1.CustomResourceDefinition, stale *apiextensionsv1.CustomResourceDefinitionCondition) (bool, error) {
	var established, namesAccepted bool
	for _, c := range crd.Status.Conditions {
		switch c.Type {
		case apiextensionsv1.NamesAccepted:
			if c.Status == apiextensionsv1.ConditionFalse && !sameCondition(&c, stale) {
				return false, fmt.Errorf("%w: CRD %s: %s: %s", ErrNamesNotAccepted, crd.Name, c.Reason, c.Message)
			}
			namesAccepted = c.Status == apiextensionsv1.ConditionTrue
		case apiextensionsv1.Established:
			established = c.Status == apiextensionsv1.ConditionTrue
		}
	}
	// After a change of names the old conditions are still True until the
	// naming controller has looked at the new names: wait for them to be
	// the accepted ones.
	return established && namesAccepted && equality.Semantic.DeepEqual(crd.Status.AcceptedNames, crd.Spec.Names), nil
}

// sameCondition reports whether c is the condition old (nil matches nothing).
func sameCondition(c, old *apiextensionsv1.CustomResourceDefinitionCondition) bool {
	return old != nil && c.Status == old.Status && c.Reason == old.Reason && c.Message == old.Message &&
		c.LastTransitionTime.Equal(&old.LastTransitionTime)
}

// findCondition returns the CRD's condition of type t, or nil.
func findCondition(crd *apiextensionsv1.CustomResourceDefinition, t apiextensionsv1.CustomResourceDefinitionConditionType) *apiextensionsv1.CustomResourceDefinitionCondition {
	for i := range crd.Status.Conditions {
		if crd.Status.Conditions[i].Type == t {
			return &crd.Status.Conditions[i]
		}
	}
	return nil
}

// CRDWatcher is what WaitEstablished needs of a CRD client: List and Watch.
// The clientset's CustomResourceDefinitionInterface is one.
type CRDWatcher interface {
	List(ctx context.Context, opts metav1.ListOptions) (*apiextensionsv1.CustomResourceDefinitionList, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// WaitEstablished returns once crd (as last read or written) is Established
// with its names accepted, watching it through crds when it is not yet, for
// at most timeout. It is rgd's one wait for a CRD: the registrar, the
// engine's install of the ResourceGraphDefinition CRD and `rgd dev` use it.
//
// Names the API server refuses end the wait at once with an error wrapping
// ErrNamesNotAccepted; so does the CRD's deletion, or its replacement by
// another of the same name. After timeout the error lists the CRD's
// conditions as last seen.
func WaitEstablished(ctx context.Context, crds CRDWatcher, crd *apiextensionsv1.CustomResourceDefinition, timeout time.Duration) error {
	return waitEstablished(ctx, crds, crd, nil, timeout)
}

// waitEstablished is the Registrar's WaitEstablished, with its
// EstablishTimeout. stale is the NamesAccepted=False condition left over
// from names that the last write replaced, or nil.
//
// When the API server still shows a refusal of the old names and keeps the
// same verdict on the new ones, it does not write the status again, so the
// stale condition alone cannot tell "not looked yet" from "still refused".
// In that case the new names are checked here against the names the other
// CRDs of the group hold, the way the API server checks them.
func (r *Registrar) waitEstablished(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition, stale *apiextensionsv1.CustomResourceDefinitionCondition) error {
	if stale != nil {
		if c := findCondition(crd, apiextensionsv1.NamesAccepted); c == nil || !sameCondition(c, stale) {
			stale = nil // the server has already looked at the new names
		} else if err := r.checkNames(ctx, crd); err != nil {
			return err
		}
	}
	return waitEstablished(ctx, r.crds, crd, stale, r.establishTimeout)
}

// waitEstablished is WaitEstablished, counting a NamesAccepted=False
// condition equal to stale as pending (see establishState).
func waitEstablished(ctx context.Context, crds CRDWatcher, crd *apiextensionsv1.CustomResourceDefinition, stale *apiextensionsv1.CustomResourceDefinitionCondition, timeout time.Duration) error {
	if done, err := establishState(crd, stale); done || err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	selector := fields.OneTermEqualSelector("metadata.name", crd.Name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = selector
			return crds.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = selector
			return crds.Watch(ctx, opts)
		},
	}
	last := crd
	check := func(obj any) (bool, error) {
		c, ok := obj.(*apiextensionsv1.CustomResourceDefinition)
		if !ok {
			return false, nil
		}
		if c.UID != crd.UID {
			return false, fmt.Errorf("CRD %s was replaced while waiting for it to be Established", crd.Name)
		}
		last = c
		return establishState(c, stale)
	}
	precondition := func(store cache.Store) (bool, error) {
		obj, exists, err := store.GetByKey(crd.Name)
		if err != nil {
			return false, err
		}
		if !exists {
			return false, fmt.Errorf("%w: %s", errDeleted, crd.Name)
		}
		return check(obj)
	}
	// A client that says it cannot stream lists (a fake) gets a plain list.
	_, err := watchtools.UntilWithSync(ctx, cache.ToListWatcherWithWatchListSemantics(lw, crds), &apiextensionsv1.CustomResourceDefinition{}, precondition,
		func(ev watch.Event) (bool, error) {
			if ev.Type == watch.Deleted {
				return false, fmt.Errorf("%w: %s", errDeleted, crd.Name)
			}
			return check(ev.Object)
		})
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, ErrNamesNotAccepted) {
		return fmt.Errorf("CRD %s not Established after %s (conditions: %s): %w",
			crd.Name, timeout, describeConditions(last), err)
	}
	return fmt.Errorf("waiting for CRD %s to be Established: %w", crd.Name, err)
}

// describeConditions renders a CRD's conditions on one line for errors.
func describeConditions(crd *apiextensionsv1.CustomResourceDefinition) string {
	if len(crd.Status.Conditions) == 0 {
		return "none yet"
	}
	out := ""
	for i, c := range crd.Status.Conditions {
		if i > 0 {
			out += "; "
		}
		out += fmt.Sprintf("%s=%s", c.Type, c.Status)
		if c.Reason != "" {
			out += " " + c.Reason
		}
		if c.Message != "" {
			out += ": " + c.Message
		}
	}
	return out
}

// checkNames reports, as an ErrNamesNotAccepted error, the requested names of
// crd that other CRDs of its group already hold (by their accepted names), by
// the API server's rules: a name the CRD already holds is always fine.
func (r *Registrar) checkNames(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) error {
	list, err := r.crds.List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing CRDs to check the names of %s: %w", crd.Name, err)
	}
	resources, kinds := sets.New[string](), sets.New[string]()
	for i := range list.Items {
		other := &list.Items[i]
		if other.Spec.Group != crd.Spec.Group || other.Name == crd.Name {
			continue
		}
		a := other.Status.AcceptedNames
		resources.Insert(a.Plural, a.Singular)
		resources.Insert(a.ShortNames...)
		kinds.Insert(a.Kind, a.ListKind)
	}
	want, held := crd.Spec.Names, crd.Status.AcceptedNames
	heldShort := sets.New(held.ShortNames...)
	var conflicts []string
	check := func(name, heldName string, used sets.Set[string]) {
		if name != "" && name != heldName && used.Has(name) {
			conflicts = append(conflicts, fmt.Sprintf("%q is already in use", name))
		}
	}
	check(want.Plural, held.Plural, resources)
	check(want.Singular, held.Singular, resources)
	for _, s := range want.ShortNames {
		if !heldShort.Has(s) {
			check(s, "", resources)
		}
	}
	check(want.Kind, held.Kind, kinds)
	check(want.ListKind, held.ListKind, kinds)
	if len(conflicts) > 0 {
		return fmt.Errorf("%w: CRD %s: %s", ErrNamesNotAccepted, crd.Name, strings.Join(conflicts, ", "))
	}
	return nil
}
