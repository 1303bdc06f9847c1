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

// RGD is one ResourceGraphDefinition and the instances looked for. It is
// also the document `rgd status rgd/NAME -o json|yaml` prints; its JSON
// field names are stable.
type RGD struct {
	// Name of the RGD.
	Name string `json:"name"`
	// InstanceKind is the kind the RGD defines, as Kind.group.
	InstanceKind string `json:"instanceKind,omitempty"`
	// State is the RGD's status.state, StateUnreadable when it could not
	// be read, empty before the engine has written it.
	State v1alpha1.ResourceGraphDefinitionState `json:"state"`
	// Message says why the RGD is not Active: the message of its first
	// False condition, in the order GraphAccepted, KindReady,
	// ControllerReady, Ready.
	Message string `json:"message,omitempty"`
	// Refused is true when the graph was found invalid (GraphAccepted False
	// with reason InvalidResourceGraph): it will not turn Active until the
	// RGD changes. A kind not served yet (reason UnknownKind) or a failed
	// schema lookup (SchemaUnavailable) is not a refusal.
	Refused bool `json:"refused,omitempty"`
	// Conditions are the RGD's status conditions (read by `rgd status`).
	Conditions []v1alpha1.Condition `json:"conditions,omitempty"`
	// InstancesByState counts the RGD's instances in every namespace by
	// status.state, in the order ACTIVE, IN_PROGRESS, DELETING, ERROR,
	// then any other state, then none yet (read by `rgd status`).
	InstancesByState []StateCount `json:"instancesByState,omitempty"`
	// Instances are the instances of the RGD's kind looked for (by
	// `rgd dev`).
	Instances []Instance `json:"instances,omitempty"`
}

// StateCount is how many instances are in one state; State is empty for
// instances whose status has no state yet.
type StateCount struct {
	State v1alpha1.InstanceState `json:"state"`
	Count int                    `json:"count"`
}

// StateUnreadable is the State of an RGD that could not be read.
const StateUnreadable v1alpha1.ResourceGraphDefinitionState = "unknown"

// Instance is one instance and its graph's resources. It is also the
// document `rgd status TYPE/NAME -o json|yaml` prints; its JSON field names
// are stable.
type Instance struct {
	// Kind, Namespace and Name of the instance; Namespace is empty for a
	// cluster-scoped kind and while the kind is not served.
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// RGD is the name of the ResourceGraphDefinition of the instance's
	// kind, when known.
	RGD string `json:"resourceGraphDefinition,omitempty"`
	// Found is true when the instance exists.
	Found bool `json:"found"`
	// State is the instance's status.state.
	State v1alpha1.InstanceState `json:"state"`
	// Ready is the status of the instance's Ready condition, empty when it
	// has none.
	Ready metav1.ConditionStatus `json:"ready,omitempty"`
	// ReadyMessage is the Ready condition's message while it is not True.
	ReadyMessage string `json:"readyMessage,omitempty"`
	// Conditions are the instance's status conditions.
	Conditions []v1alpha1.Condition `json:"conditions,omitempty"`
	// Resources are the graph's resources, in topological order.
	Resources []Resource `json:"resources"`
	// Judged is true when the resources' readiness was judged from the
	// compiled graph (see Reader.WithSchemas): Ready, DependsOn and
	// Blocked are then set.
	Judged bool `json:"judged"`
	// GraphError says why the graph could not be compiled here, when a
	// judgement was asked for: the resources are then listed from the
	// RGD's spec, without readiness.
	GraphError string `json:"graphError,omitempty"`
}

// Ref names the instance as "Kind namespace/name" (or "Kind name").
func (in Instance) Ref() string {
	if in.Namespace == "" {
		return in.Kind + " " + in.Name
	}
	return in.Kind + " " + in.Namespace + "/" + in.Name
}

// Healthy reports whether the instance is ACTIVE and its Ready condition
// True: what `rgd status` exits 0 for.
func (in Instance) Healthy() bool {
	return in.Found && in.State == v1alpha1.InstanceStateActive && in.Ready == metav1.ConditionTrue
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
	// ResourceFound is an external reference found.
	ResourceFound ResourceState = "found"
	// ResourceExcluded is a resource left out of the instance: one of its
	// includeWhen expressions is false, or a resource it depends on is
	// excluded (judged resources only).
	ResourceExcluded ResourceState = "excluded"
)

// Resource is one resource of an instance's graph.
type Resource struct {
	// ID of the resource in the RGD.
	ID string `json:"id"`
	// APIVersion and Kind of its objects.
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind"`
	// Name of its first object, namespace/name when namespaced, followed
	// by " (+N more)" for N more objects; before any exists, the name the
	// engine will give it when known; else empty. For display: Objects
	// holds the same, structured.
	Name string `json:"-"`
	// Objects are the resource's objects: the live ones, or, before any
	// exists, the ones the engine is to create or look for, when known.
	Objects []ObjectRef `json:"objects,omitempty"`
	// State says how far the resource is.
	State ResourceState `json:"state"`
	// DependsOn are the ids of the resources this one reads (judged
	// resources only).
	DependsOn []string `json:"dependsOn,omitempty"`
	// Ready is true when the resource is ready: it exists (or was found)
	// and every readyWhen expression is true (judged resources only).
	Ready bool `json:"ready"`
	// Blocked says what keeps a judged resource from being ready, or what
	// excluded it; nil when it is ready.
	Blocked *Blocker `json:"blocked,omitempty"`
}

// ObjectRef names one object.
type ObjectRef struct {
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// Blocker says what keeps a resource from being ready, or why it is
// excluded.
type Blocker struct {
	// Reason is what kind of thing it waits on.
	Reason BlockReason `json:"reason"`
	// Dependencies are the ids of the resources waited on (reason
	// Dependency), or of the excluded resource it depends on (reason
	// Excluded without Expression).
	Dependencies []string `json:"dependencies,omitempty"`
	// Expression is the source of the readyWhen or includeWhen expression
	// (without ${ }) that is not true, or of the expression whose data is
	// not there yet.
	Expression string `json:"expression,omitempty"`
	// Message says the same for humans.
	Message string `json:"message"`
}

// BlockReason is what a resource waits on.
type BlockReason string

// Block reasons.
const (
	// BlockedByDependency: a resource it depends on is not ready.
	BlockedByDependency BlockReason = "Dependency"
	// BlockedByReadyWhen: its object exists, a readyWhen expression is not
	// true.
	BlockedByReadyWhen BlockReason = "ReadyWhen"
	// BlockedByData: a value of its template (or includeWhen, forEach)
	// reads data that is not there yet.
	BlockedByData BlockReason = "PendingData"
	// BlockedByCreation: its dependencies are ready, its objects do not
	// all exist yet: the engine creates them.
	BlockedByCreation BlockReason = "NotCreated"
	// BlockedByNotFound: the external object it refers to does not exist.
	BlockedByNotFound BlockReason = "NotFound"
	// BlockedByError: rendering it or evaluating an expression failed.
	BlockedByError BlockReason = "Error"
	// Excluded: an includeWhen expression is false, or a dependency is
	// excluded; the resource holds nothing back.
	Excluded BlockReason = "Excluded"
)

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
