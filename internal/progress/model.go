package progress

import (
	"encoding/json"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
)

// RGD is one ResourceGraphDefinition and the instances looked for.
type RGD struct {
	// Name of the RGD.
	Name string
	// State is the RGD's status.state, StateUnreadable when it could not
	// be read, empty before the engine has written it.
	State v1alpha1.ResourceGraphDefinitionState
	// Message says why the RGD is not Active: the message of its first
	// False condition, in the order GraphAccepted, KindReady,
	// ControllerReady, Ready.
	Message string
	// Refused is true when the graph was found invalid (GraphAccepted False
	// with reason InvalidResourceGraph): it will not turn Active until the
	// RGD changes. A kind not served yet (reason UnknownKind) or a failed
	// schema lookup (SchemaUnavailable) is not a refusal.
	Refused bool
	// Instances are the instances of the RGD's kind looked for.
	Instances []Instance
}

// StateUnreadable is the State of an RGD that could not be read.
const StateUnreadable v1alpha1.ResourceGraphDefinitionState = "unknown"

// Instance is one instance and its graph's resources.
type Instance struct {
	// Kind, Namespace and Name of the instance; Namespace is empty for a
	// cluster-scoped kind and while the kind is not served.
	Kind, Namespace, Name string
	// Found is true when the instance exists.
	Found bool
	// State is the instance's status.state.
	State v1alpha1.InstanceState
	// ReadyMessage is the Ready condition's message while it is not True.
	ReadyMessage string
	// Conditions are the instance's status conditions.
	Conditions []v1alpha1.Condition
	// Resources are the graph's resources, in topological order.
	Resources []Resource
}

// Ref names the instance as "Kind namespace/name" (or "Kind name").
func (in Instance) Ref() string {
	if in.Namespace == "" {
		return in.Kind + " " + in.Name
	}
	return in.Kind + " " + in.Namespace + "/" + in.Name
}

// Settled reports whether the instance is ACTIVE or in ERROR.
func (in Instance) Settled() bool {
	return in.State == v1alpha1.InstanceStateActive || in.State == v1alpha1.InstanceStateError
}

// ResourceState says how far one resource of an instance's graph is.
type ResourceState string

// Resource states.
const (
	// ResourceWaiting is a template resource none of whose objects exists
	// yet, or an external reference whose kind is not served yet.
	ResourceWaiting ResourceState = "waiting"
	// ResourceCreated is a template resource whose objects exist.
	ResourceCreated ResourceState = "created"
	// ResourceExternal is an external reference not found (yet), or not
	// looked up: it selects by labels, or its name is an expression.
	ResourceExternal ResourceState = "external"
	// ResourceFound is an external reference found by name.
	ResourceFound ResourceState = "found"
)

// Resource is one resource of an instance's graph.
type Resource struct {
	// ID of the resource in the RGD.
	ID string
	// Kind of its objects.
	Kind string
	// Name of its first object, namespace/name when namespaced, followed
	// by " (+N more)" for N more objects; before any exists, the name the
	// RGD gives when it is not an expression; else empty.
	Name string
	// State says how far the resource is.
	State ResourceState
}

// Settled returns every instance of the snapshot once all are ACTIVE or in
// ERROR, else nil.
func Settled(snap []RGD) []Instance {
	var all []Instance
	for _, r := range snap {
		for _, in := range r.Instances {
			if !in.Settled() {
				return nil
			}
			all = append(all, in)
		}
	}
	return all
}

// DecodeRGD converts an RGD read from the cluster (or from a file) into the
// typed API.
func DecodeRGD(u *unstructured.Unstructured) (*v1alpha1.ResourceGraphDefinition, error) {
	rgd := &v1alpha1.ResourceGraphDefinition{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, rgd); err != nil {
		return nil, err
	}
	return rgd, nil
}

// Summarize returns the RGD's name, state, message and refusal, without
// instances.
func Summarize(rgd *v1alpha1.ResourceGraphDefinition) RGD {
	out := RGD{Name: rgd.Name, State: rgd.Status.State}
	if out.State == v1alpha1.StateActive {
		return out
	}
	for _, want := range []v1alpha1.ConditionType{v1alpha1.ConditionGraphAccepted, v1alpha1.ConditionKindReady,
		v1alpha1.ConditionControllerReady, v1alpha1.ConditionReady} {
		for _, c := range rgd.Status.Conditions {
			if c.Type != want || c.Status != metav1.ConditionFalse {
				continue
			}
			if out.Message == "" {
				out.Message = deref(c.Message)
			}
			out.Refused = out.Refused || want == v1alpha1.ConditionGraphAccepted && deref(c.Reason) == v1alpha1.ReasonInvalidResourceGraph
		}
	}
	return out
}

// InstanceKind is the kind the RGD defines (the group defaults to kro.run).
func InstanceKind(rgd *v1alpha1.ResourceGraphDefinition) schema.GroupKind {
	if rgd.Spec.Schema == nil {
		return schema.GroupKind{}
	}
	group := rgd.Spec.Schema.Group
	if group == "" {
		group = v1alpha1.GroupName
	}
	return schema.GroupKind{Group: group, Kind: rgd.Spec.Schema.Kind}
}

// resourceRef is where the objects of one resource of an RGD are: its
// template's or external reference's apiVersion, kind, name and namespace
// (which may hold ${...} expressions).
type resourceRef struct {
	apiVersion, kind, name, namespace string
	external                          bool
}

// resourceRefs returns the RGD's resources by id, and their ids in
// topological order (the spec's order until the status has one).
func resourceRefs(rgd *v1alpha1.ResourceGraphDefinition) ([]string, map[string]resourceRef) {
	refs := map[string]resourceRef{}
	var specOrder []string
	for _, r := range rgd.Spec.Resources {
		if r == nil || r.ID == "" {
			continue
		}
		var ref resourceRef
		switch {
		case r.Template != nil:
			ref = templateRef(r.Template)
		case r.ExternalRef != nil:
			ref = resourceRef{apiVersion: r.ExternalRef.APIVersion, kind: r.ExternalRef.Kind,
				name: r.ExternalRef.Metadata.Name, namespace: r.ExternalRef.Metadata.Namespace, external: true}
		default:
			continue
		}
		refs[r.ID] = ref
		specOrder = append(specOrder, r.ID)
	}
	if len(rgd.Status.TopologicalOrder) > 0 {
		return rgd.Status.TopologicalOrder, refs
	}
	return specOrder, refs
}

// templateRef reads what a template says of its object. A template that is
// not an object gives an empty ref.
func templateRef(t *runtime.RawExtension) resourceRef {
	var obj map[string]any
	if err := json.Unmarshal(t.Raw, &obj); err != nil {
		return resourceRef{}
	}
	str := func(path ...string) string { s, _, _ := unstructured.NestedString(obj, path...); return s }
	return resourceRef{apiVersion: str("apiVersion"), kind: str("kind"),
		name: str("metadata", "name"), namespace: str("metadata", "namespace")}
}

// isExpression reports whether s holds a ${...} expression.
func isExpression(s string) bool { return strings.Contains(s, "${") }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
