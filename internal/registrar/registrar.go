package registrar

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/go-logr/logr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclientset "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset/typed/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	"github.com/rgd-dev/rgd/pkg/crdgen"
	"github.com/rgd-dev/rgd/pkg/metadata"
)

// DefaultEstablishTimeout is how long Ensure waits for a CRD to become
// Established when Options.EstablishTimeout is zero.
const DefaultEstablishTimeout = 60 * time.Second

const (
	ownedValue              = "true"
	annotationAllowBreaking = metadata.AnnotationAllowBreakingChanges
)

// Options configure a Registrar. The zero value is usable.
type Options struct {
	// EstablishTimeout bounds how long Ensure waits for the CRD to be
	// Established once it is written; zero means DefaultEstablishTimeout.
	EstablishTimeout time.Duration
	// Logger receives one line per write (create, update, adopt, delete);
	// the zero value discards them.
	Logger logr.Logger
}

// Owner identifies the ResourceGraphDefinition a CRD belongs to.
type Owner struct {
	// Name is the RGD's name, stored in the kro.run/resource-graph-definition-name label.
	Name string
	// UID is the RGD's UID, stored in the kro.run/resource-graph-definition-id
	// label. A CRD with the owner's name but another UID (the RGD was deleted
	// and created again) is adopted by Ensure. Empty means unknown: the id
	// label is then neither written nor compared.
	UID types.UID
	// AllowBreakingChanges lets Ensure apply a schema change that crdgen.Compare
	// classifies as breaking (the RGD's kro.run/allow-breaking-changes: "true").
	AllowBreakingChanges bool
}

// Registrar creates, updates and deletes the CRDs of generated kinds. It is
// safe for concurrent use; concurrent calls for the same CRD are serialised by
// the API server's optimistic concurrency.
type Registrar struct {
	crds             apiextensionsclient.CustomResourceDefinitionInterface
	rest             rest.Interface // nil when the client has none (fakes)
	establishTimeout time.Duration
	log              logr.Logger
}

// New returns a Registrar that talks to the API server through client.
func New(client apiextensionsclientset.Interface, opts Options) *Registrar {
	timeout := opts.EstablishTimeout
	if timeout <= 0 {
		timeout = DefaultEstablishTimeout
	}
	log := opts.Logger
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	var rc rest.Interface
	if c, ok := client.ApiextensionsV1().RESTClient().(*rest.RESTClient); ok && c != nil {
		rc = c
	}
	return &Registrar{
		crds:             client.ApiextensionsV1().CustomResourceDefinitions(),
		rest:             rc,
		establishTimeout: timeout,
		log:              log,
	}
}

// Ensure makes the cluster serve crd on behalf of owner and waits until the
// CRD is Established with its names accepted and, after a write, until the
// API server serves watches of the kind. It reports whether it wrote
// anything.
//
//   - An absent CRD is created, labelled kro.run/owned=true and with the
//     owner's name and UID.
//   - A CRD without kro.run/owned=true is never touched: ErrNotOwned.
//   - A CRD labelled with another RGD's name: ErrOwnedByOther.
//   - A CRD with the owner's name but another UID is adopted (its id label
//     is updated).
//   - The existing schema is compared with the desired one (crdgen.Compare):
//     breaking changes without owner.AllowBreakingChanges give a
//     *BreakingChangeError and no write. Otherwise spec.group, spec.names,
//     spec.scope and spec.versions are replaced and the desired labels and
//     annotations are set (others already on the CRD are kept).
//   - When the spec and those labels and annotations already match, nothing
//     is written.
//
// A CRD whose names the API server refuses gives an error wrapping
// ErrNamesNotAccepted with the server's message, as soon as the server says
// so. A CRD that is being deleted gives ErrBeingDeleted. The result is true
// when a write happened, even if the wait that follows failed. crd is not
// modified.
func (r *Registrar) Ensure(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition, owner Owner) (bool, error) {
	if err := validateArgs(crd, owner); err != nil {
		return false, err
	}
	desired := desiredCRD(crd, owner)

	var changed bool
	var res result
	err := retry.OnError(retry.DefaultRetry, retriable, func() error {
		var err error
		res, err = r.ensureOnce(ctx, desired, owner)
		changed = changed || res.wrote
		return err
	})
	if err != nil {
		return changed, err
	}
	if err := r.waitEstablished(ctx, res.crd, res.staleNames); err != nil {
		return changed, err
	}
	if changed {
		r.waitWatchable(ctx, res.crd)
	}
	return changed, nil
}

// result is the outcome of one round of Ensure.
type result struct {
	// crd is the CRD as the API server last returned it.
	crd *apiextensionsv1.CustomResourceDefinition
	// wrote tells whether the round created or updated the CRD.
	wrote bool
	// staleNames is the NamesAccepted=False condition the CRD had before an
	// update that changed its names: until the API server has looked at the
	// new names, it still shows that verdict on the old ones.
	staleNames *apiextensionsv1.CustomResourceDefinitionCondition
}

// retriable reports the errors after which Ensure reads the CRD again and
// starts over: a concurrent update, or a concurrent create.
func retriable(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
}

// ensureOnce is one read-decide-write round of Ensure.
func (r *Registrar) ensureOnce(ctx context.Context, desired *apiextensionsv1.CustomResourceDefinition, owner Owner) (result, error) {
	log := r.log.WithValues("crd", desired.Name, "rgd", owner.Name)
	existing, err := r.crds.Get(ctx, desired.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		created, err := r.crds.Create(ctx, desired, metav1.CreateOptions{FieldManager: metadata.FieldManagerController})
		if err != nil {
			return result{}, fmt.Errorf("creating CRD %s: %w", desired.Name, err)
		}
		log.Info("created CRD")
		return result{crd: created, wrote: true}, nil
	}
	if err != nil {
		return result{}, fmt.Errorf("reading CRD %s: %w", desired.Name, err)
	}

	adopt, err := checkOwner(existing, owner)
	if err != nil {
		return result{}, err
	}
	if existing.DeletionTimestamp != nil {
		return result{}, fmt.Errorf("%w: %s (it is created again once the deletion completes)", ErrBeingDeleted, existing.Name)
	}

	report := crdgen.Compare(existing, desired)
	if report.HasBreaking() && !owner.AllowBreakingChanges {
		return result{}, &BreakingChangeError{CRD: existing.Name, Report: report}
	}

	updated, needed := mergeInto(existing, desired)
	if !needed {
		return result{crd: existing}, nil
	}
	written, err := r.crds.Update(ctx, updated, metav1.UpdateOptions{FieldManager: metadata.FieldManagerController})
	if err != nil {
		if apierrors.IsConflict(err) {
			return result{}, err // read again and decide again
		}
		return result{}, fmt.Errorf("updating CRD %s: %w", desired.Name, err)
	}
	switch {
	case adopt:
		log.Info("adopted CRD of a re-created RGD", "previousID", existing.Labels[metadata.LabelRGDID], "id", owner.UID)
	case report.HasBreaking():
		log.Info("updated CRD with breaking changes allowed by the RGD", "changes", report.String())
	default:
		log.Info("updated CRD", "changes", len(report.Changes))
	}
	res := result{crd: written, wrote: true}
	if !equality.Semantic.DeepEqual(existing.Spec.Names, updated.Spec.Names) {
		if c := findCondition(existing, apiextensionsv1.NamesAccepted); c != nil && c.Status == apiextensionsv1.ConditionFalse {
			res.staleNames = c.DeepCopy()
		}
	}
	return res, nil
}

// Delete deletes the CRD name if owner owns it: labelled kro.run/owned=true
// and with the owner's RGD name (the id label is not compared, so that the
// CRD of a re-created RGD that never adopted it can still be removed). The
// deletion carries the UID and resourceVersion that were checked as
// preconditions, so a CRD replaced in between is never deleted. An absent CRD,
// or one already being deleted, is success. Delete does not wait for the CRD
// to be gone.
func (r *Registrar) Delete(ctx context.Context, name string, owner Owner) error {
	var errs field.ErrorList
	if name == "" {
		errs = append(errs, field.Required(field.NewPath("name"), "the name of the CRD to delete"))
	}
	if owner.Name == "" {
		errs = append(errs, field.Required(field.NewPath("owner", "name"), "the name of the owning ResourceGraphDefinition"))
	}
	if len(errs) > 0 {
		return errs.ToAggregate()
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := r.crds.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading CRD %s: %w", name, err)
		}
		if _, err := checkOwner(cur, Owner{Name: owner.Name}); err != nil {
			return err
		}
		if cur.DeletionTimestamp != nil {
			return nil
		}
		err = r.crds.Delete(ctx, name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &cur.UID, ResourceVersion: &cur.ResourceVersion},
		})
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case apierrors.IsConflict(err):
			return err
		case err != nil:
			return fmt.Errorf("deleting CRD %s: %w", name, err)
		}
		r.log.Info("deleted CRD", "crd", name, "rgd", owner.Name)
		return nil
	})
}

// validateArgs reports every problem with Ensure's arguments at once.
func validateArgs(crd *apiextensionsv1.CustomResourceDefinition, owner Owner) error {
	var errs field.ErrorList
	if crd == nil {
		errs = append(errs, field.Required(field.NewPath("crd"), "the desired CustomResourceDefinition"))
	} else if crd.Name == "" {
		errs = append(errs, field.Required(field.NewPath("crd", "metadata", "name"), "<plural>.<group>"))
	}
	if owner.Name == "" {
		errs = append(errs, field.Required(field.NewPath("owner", "name"), "the name of the owning ResourceGraphDefinition"))
	}
	return errs.ToAggregate()
}

// desiredCRD returns a clean copy of crd, with server-managed fields cleared,
// API defaults applied (so that it compares equal to what the server returns)
// and the owner's labels set.
func desiredCRD(crd *apiextensionsv1.CustomResourceDefinition, owner Owner) *apiextensionsv1.CustomResourceDefinition {
	out := &apiextensionsv1.CustomResourceDefinition{
		TypeMeta: metav1.TypeMeta{APIVersion: apiextensionsv1.SchemeGroupVersion.String(), Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        crd.Name,
			Labels:      maps.Clone(crd.Labels),
			Annotations: maps.Clone(crd.Annotations),
		},
		Spec: *crd.Spec.DeepCopy(),
	}
	apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(out)
	out.Status = apiextensionsv1.CustomResourceDefinitionStatus{}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	out.Labels[metadata.LabelOwned] = ownedValue
	out.Labels[metadata.LabelRGDName] = owner.Name
	if owner.UID != "" {
		out.Labels[metadata.LabelRGDID] = string(owner.UID)
	}
	return out
}

// checkOwner decides whether owner may write the existing CRD, and whether
// doing so adopts it (same RGD name, another UID).
func checkOwner(existing *apiextensionsv1.CustomResourceDefinition, owner Owner) (adopt bool, err error) {
	labels := existing.Labels
	if labels[metadata.LabelOwned] != ownedValue {
		return false, fmt.Errorf("%w: %s has no label %s=%s; rgd never takes over a CRD it did not create",
			ErrNotOwned, existing.Name, metadata.LabelOwned, ownedValue)
	}
	if other := labels[metadata.LabelRGDName]; other != owner.Name {
		if other == "" {
			return false, fmt.Errorf("%w: %s has no label %s, so it cannot be attributed to ResourceGraphDefinition %q",
				ErrOwnedByOther, existing.Name, metadata.LabelRGDName, owner.Name)
		}
		return false, fmt.Errorf("%w: %s belongs to ResourceGraphDefinition %q, not %q",
			ErrOwnedByOther, existing.Name, other, owner.Name)
	}
	return owner.UID != "" && labels[metadata.LabelRGDID] != string(owner.UID), nil
}

// mergeInto returns existing with the desired spec (group, names, scope,
// versions), labels and annotations, and whether that differs from existing.
// Other fields of existing (conversion, preserveUnknownFields, other labels
// and annotations) are kept.
func mergeInto(existing, desired *apiextensionsv1.CustomResourceDefinition) (*apiextensionsv1.CustomResourceDefinition, bool) {
	sem := equality.Semantic
	same := existing.Spec.Group == desired.Spec.Group &&
		existing.Spec.Scope == desired.Spec.Scope &&
		sem.DeepEqual(existing.Spec.Names, desired.Spec.Names) &&
		sem.DeepEqual(existing.Spec.Versions, desired.Spec.Versions) &&
		containsAll(existing.Labels, desired.Labels) &&
		containsAll(existing.Annotations, desired.Annotations)
	if same {
		return existing, false
	}
	out := existing.DeepCopy()
	out.Spec.Group = desired.Spec.Group
	out.Spec.Scope = desired.Spec.Scope
	desired.Spec.Names.DeepCopyInto(&out.Spec.Names)
	out.Spec.Versions = make([]apiextensionsv1.CustomResourceDefinitionVersion, len(desired.Spec.Versions))
	for i := range desired.Spec.Versions {
		desired.Spec.Versions[i].DeepCopyInto(&out.Spec.Versions[i])
	}
	if out.Labels == nil && len(desired.Labels) > 0 {
		out.Labels = map[string]string{}
	}
	maps.Copy(out.Labels, desired.Labels)
	if out.Annotations == nil && len(desired.Annotations) > 0 {
		out.Annotations = map[string]string{}
	}
	maps.Copy(out.Annotations, desired.Annotations)
	return out, true
}

// containsAll reports whether have holds every key of want with its value.
func containsAll(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}
