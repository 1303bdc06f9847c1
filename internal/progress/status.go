package progress

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/metadata"
	"github.com/rgd-dev/rgd/pkg/schemas"
)

// What `rgd status` reads: one instance, judged (see judge.go), or one RGD
// with its instances counted by state.

// NewClusterReader returns a Reader of the cluster of cfg that judges
// resources: kinds map through discovery (short names included, as
// kubectl), and RGDs compile against the cluster's schemas backed by the
// built-in ones, as the engine compiles them.
func NewClusterReader(cfg *rest.Config) (*Reader, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	cached := memory.NewMemCacheClient(dc)
	mapper := restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(cached), cached, nil)
	resettable, ok := mapper.(meta.ResettableRESTMapper)
	if !ok {
		return nil, errors.New("the discovery REST mapper cannot be reset")
	}
	live, err := schemas.Discovery(cfg, schemas.DiscoveryOptions{})
	if err != nil {
		return nil, fmt.Errorf("schema discovery: %w", err)
	}
	return NewReader(dyn, resettable).WithSchemas(schemas.Chain(live, schemas.Builtin())), nil
}

// NotFoundError is the error of a type, or of an object, that is not on
// the cluster.
type NotFoundError struct {
	// What was looked for, e.g. `type "shops"` or `CartsStack default/x`.
	What string
	// Err is the error of the lookup.
	Err error
}

func (e *NotFoundError) Error() string { return e.What + " not found on the cluster: " + e.Err.Error() }
func (e *NotFoundError) Unwrap() error { return e.Err }

// Target is what `rgd status` shows: an RGD, or one instance.
type Target struct {
	// RGD is the name of an RGD; empty for an instance.
	RGD string
	// Resource and Kind of the instance.
	Resource schema.GroupVersionResource
	Kind     string
	// Namespace (empty for a cluster-scoped kind) and Name of the instance.
	Namespace, Name string
}

// String names the target as `rgd status` prints it.
func (t Target) String() string {
	if t.RGD != "" {
		return "ResourceGraphDefinition " + t.RGD
	}
	return t.Kind + " " + qualified(t.Namespace, t.Name)
}

// rgdTypes are the names of the RGD type `rgd status` takes.
var rgdTypes = []string{"rgd", "rgds", "resourcegraphdefinition", "resourcegraphdefinitions"}

// Resolve turns TYPE and NAME into a target, as kubectl does: TYPE is rgd
// (or resourcegraphdefinition), or a kind's plural, singular (lower-case
// kind) or short name, optionally qualified as name.group or
// name.version.group. namespace applies to a namespaced kind. A TYPE the
// cluster does not serve is a *NotFoundError.
func (r *Reader) Resolve(typ, name, namespace string) (Target, error) {
	typ = strings.ToLower(typ)
	if slices.Contains(rgdTypes, strings.TrimSuffix(typ, "."+v1alpha1.GroupName)) {
		return Target{RGD: name}, nil
	}
	gvr, err := r.resourceFor(typ)
	if err != nil {
		r.mapper.Reset() // the kind may be new: ask discovery again
		gvr, err = r.resourceFor(typ)
	}
	if err != nil {
		return Target{}, &NotFoundError{What: fmt.Sprintf("type %q", typ), Err: err}
	}
	if gvr.GroupResource() == v1alpha1.ResourceGraphDefinitionResource.GroupResource() {
		return Target{RGD: name}, nil
	}
	gvk, err := r.mapper.KindFor(gvr)
	if err != nil {
		return Target{}, &NotFoundError{What: fmt.Sprintf("type %q", typ), Err: err}
	}
	mapping, err := r.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return Target{}, &NotFoundError{What: fmt.Sprintf("type %q", typ), Err: err}
	}
	t := Target{Resource: mapping.Resource, Kind: gvk.Kind, Name: name}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		t.Namespace = cmp.Or(namespace, metav1.NamespaceDefault)
	}
	return t, nil
}

// resourceFor maps TYPE to a resource through the mapper.
func (r *Reader) resourceFor(typ string) (schema.GroupVersionResource, error) {
	if full, _ := schema.ParseResourceArg(typ); full != nil {
		if gvr, err := r.mapper.ResourceFor(*full); err == nil {
			return gvr, nil
		}
	}
	_, gr := schema.ParseResourceArg(typ)
	return r.mapper.ResourceFor(gr.WithVersion(""))
}

// Status is one reading of a target: an instance or an RGD.
type Status struct {
	Instance *Instance
	RGD      *RGD
}

// Healthy reports whether the target is what `rgd status` exits 0 for: an
// instance ACTIVE and Ready, an RGD Ready.
func (s Status) Healthy() bool {
	switch {
	case s.Instance != nil:
		return s.Instance.Healthy()
	case s.RGD != nil:
		return s.RGD.Healthy()
	}
	return false
}

// Document is what -o json|yaml prints: the Instance or the RGD.
func (s Status) Document() any {
	if s.Instance != nil {
		return s.Instance
	}
	return s.RGD
}

// Status reads the target. A target that does not exist is a
// *NotFoundError.
func (r *Reader) Status(ctx context.Context, t Target) (Status, error) {
	if t.RGD != "" {
		rgd, err := r.RGDStatus(ctx, t.RGD)
		if err != nil {
			return Status{}, err
		}
		return Status{RGD: &rgd}, nil
	}
	in, err := r.InstanceStatus(ctx, t)
	if err != nil {
		return Status{}, err
	}
	return Status{Instance: &in}, nil
}

// InstanceStatus reads an instance, the RGD of its kind and its resources,
// judged when the Reader has schemas.
func (r *Reader) InstanceStatus(ctx context.Context, t Target) (Instance, error) {
	live, err := r.dyn.Resource(t.Resource).Namespace(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return Instance{}, &NotFoundError{What: t.String(), Err: err}
	}
	if err != nil {
		return Instance{}, fmt.Errorf("reading %s: %w", t, err)
	}
	in := Instance{Kind: t.Kind, Namespace: t.Namespace, Name: t.Name}
	rgd, err := r.rgdOf(ctx, live)
	if err != nil {
		in.Found = true
		in.State, in.Conditions = readStatus(live)
		in.Ready, in.ReadyMessage = readyOf(in.Conditions)
		in.GraphError = err.Error()
		return in, nil
	}
	return r.describe(ctx, rgd, live, in), nil
}

// rgdOf returns the RGD of an instance: the one its label names (the
// engine labels the instances it manages), else the one defining its kind.
func (r *Reader) rgdOf(ctx context.Context, live *unstructured.Unstructured) (*v1alpha1.ResourceGraphDefinition, error) {
	if name := live.GetLabels()[metadata.LabelRGDName]; name != "" {
		if rgd, err := r.RGD(ctx, name); err == nil {
			return rgd, nil
		}
	}
	list, err := r.dyn.Resource(v1alpha1.ResourceGraphDefinitionResource).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing the ResourceGraphDefinitions: %w", err)
	}
	gk := live.GroupVersionKind().GroupKind()
	for i := range list.Items {
		rgd, err := DecodeRGD(&list.Items[i])
		if err == nil && InstanceKind(rgd) == gk {
			return rgd, nil
		}
	}
	return nil, fmt.Errorf("no ResourceGraphDefinition defines the kind %s", gk)
}

// readyOf returns the Ready condition's status, and its message when not
// True.
func readyOf(conds []v1alpha1.Condition) (metav1.ConditionStatus, string) {
	for _, c := range conds {
		if c.Type == v1alpha1.ConditionReady {
			if c.Status == metav1.ConditionTrue {
				return c.Status, ""
			}
			return c.Status, deref(c.Message)
		}
	}
	return "", ""
}

// Healthy reports whether the RGD's Ready condition is True.
func (r RGD) Healthy() bool {
	for _, c := range r.Conditions {
		if c.Type == v1alpha1.ConditionReady {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

// RGDStatus reads an RGD: its state, conditions and its instances (in every
// namespace) counted by state.
func (r *Reader) RGDStatus(ctx context.Context, name string) (RGD, error) {
	rgd, err := r.RGD(ctx, name)
	if apierrors.IsNotFound(err) {
		return RGD{}, &NotFoundError{What: "ResourceGraphDefinition " + name, Err: err}
	}
	if err != nil {
		return RGD{}, fmt.Errorf("reading ResourceGraphDefinition %s: %w", name, err)
	}
	out := Summarize(rgd)
	out.Conditions = rgd.Status.Conditions
	gk := InstanceKind(rgd)
	if gk.Empty() {
		return out, nil
	}
	out.InstanceKind = gk.String()
	mapping, err := r.mapper.RESTMapping(gk, rgd.Spec.Schema.APIVersion)
	if err != nil {
		r.mapper.Reset()
		if mapping, err = r.mapper.RESTMapping(gk, rgd.Spec.Schema.APIVersion); err != nil {
			return out, nil // the kind is not served (yet): no instances
		}
	}
	list, err := r.dyn.Resource(mapping.Resource).List(ctx, metav1.ListOptions{})
	if err != nil {
		return RGD{}, fmt.Errorf("listing the %s instances: %w", gk, err)
	}
	out.InstancesByState = countStates(list.Items)
	return out, nil
}

// stateOrder is the order of the known instance states in counts.
var stateOrder = []v1alpha1.InstanceState{v1alpha1.InstanceStateActive, v1alpha1.InstanceStateInProgress,
	v1alpha1.InstanceStateDeleting, v1alpha1.InstanceStateError}

// countStates counts instances by status.state: the known states first,
// then others by name, then those without a state.
func countStates(items []unstructured.Unstructured) []StateCount {
	counts := map[v1alpha1.InstanceState]int{}
	for i := range items {
		state, _ := readStatus(&items[i])
		counts[state]++
	}
	rank := func(s v1alpha1.InstanceState) int {
		if i := slices.Index(stateOrder, s); i >= 0 {
			return i
		}
		if s == "" {
			return len(stateOrder) + 1
		}
		return len(stateOrder)
	}
	out := make([]StateCount, 0, len(counts))
	for s, n := range counts {
		out = append(out, StateCount{State: s, Count: n})
	}
	slices.SortFunc(out, func(a, b StateCount) int {
		return cmp.Or(cmp.Compare(rank(a.State), rank(b.State)), cmp.Compare(a.State, b.State))
	})
	return out
}
