package graph

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/celenv"
)

// Graph is a compiled ResourceGraphDefinition. It is immutable: the engine
// shares one Graph between every instance of its kind.
type Graph struct {
	// Name is the name of the ResourceGraphDefinition.
	Name string
	// Instance describes the generated kind.
	Instance *Instance
	// CRD is the generated CustomResourceDefinition of the instance kind.
	CRD *extv1.CustomResourceDefinition
	// Resources are the graph's nodes in topological order.
	Resources []*Resource
	// byID indexes Resources.
	byID map[string]*Resource
	// env is the typed CEL environment the expressions were compiled in.
	env *celenv.Env
	// Warnings are problems that do not stop the graph from running (see
	// CodeCostEstimate), in the order of their fields in the RGD.
	Warnings ErrorList
	// ServiceAccount is the identity the RGD's rgd.dev/service-account
	// annotation names for writing children; nil when it names none.
	ServiceAccount *ServiceAccount
}

// Activation converts unstructured values (the instance under "schema", the
// observed resources under their ids, iterator values) into the input of the
// graph's CEL programs.
func (g *Graph) Activation(values map[string]any) map[string]any {
	return g.env.Activation(values)
}

// Resource returns the resource with the given id, or nil.
func (g *Graph) Resource(id string) *Resource { return g.byID[id] }

// TopologicalOrder returns the resource ids in the order they are created.
func (g *Graph) TopologicalOrder() []string {
	ids := make([]string, len(g.Resources))
	for i, r := range g.Resources {
		ids[i] = r.ID
	}
	return ids
}

// Instance describes the kind that the graph generates.
type Instance struct {
	// GVK is the group, version and kind of instances.
	GVK schema.GroupVersionKind
	// Resource is the REST resource of instances.
	Resource schema.GroupVersionResource
	// Namespaced is false for cluster-scoped instances.
	Namespaced bool
	// Schema is the schema of the `schema` CEL variable: the instance without
	// its status. Read-only: graphs compiled from the same SimpleSchema may
	// share it (see Cache).
	Schema *spec.Schema
	// Status holds the status fields computed from expressions.
	Status []*Field
	// Conditions are the author's status.conditions expressions, each
	// returning a condition or a list of conditions. When there are any,
	// they are the instance's conditions on the wire (as in kro).
	Conditions []*Expression
}

// Resource is one node of the graph.
type Resource struct {
	// ID is the resource's id, its name in CEL expressions.
	ID string
	// Index is the position of the resource in spec.resources.
	Index int
	// GVK is the kind of object the resource creates or reads.
	GVK schema.GroupVersionKind
	// GVR is its REST resource.
	GVR schema.GroupVersionResource
	// Namespaced is false for cluster-scoped kinds.
	Namespaced bool
	// Schema is the OpenAPI schema of the kind; nil when schemaless.
	Schema *spec.Schema
	// External is true for an externalRef: read, watched, never written.
	External bool
	// Template is the object to render, without its expressions evaluated.
	// For an external reference it holds apiVersion, kind and metadata
	// (name, namespace or selector).
	Template map[string]any
	// Fields are the template's fields whose values hold expressions.
	Fields []*Field
	// ReadyWhen expressions must all be true for the resource to be ready.
	ReadyWhen []*Expression
	// IncludeWhen expressions must all be true for the resource to exist.
	IncludeWhen []*Expression
	// ForEach are the dimensions of a collection, in declaration order.
	ForEach []*Dimension
	// DeletionPolicy is the resource's deletionPolicy as written (empty:
	// Delete); see Orphans.
	DeletionPolicy v1alpha1.DeletionPolicy
	// ExternalFields are the paths of the template's fields that rgd stops
	// applying once another field manager writes them.
	ExternalFields [][]string
	// Dependencies are the ids of the resources this one references, in
	// declaration order.
	Dependencies []string
	// readyEnv is the environment ReadyWhen was compiled in.
	readyEnv *celenv.Env
	// reads are the select chains the expressions read of the object (see
	// fieldUse); statusReads is what they read of its status.
	reads       [][]string
	statusReads statusReads
}

// ReadyActivation converts the observed object (under the resource's id, or
// under "each" for an item of a collection) into the input of ReadyWhen.
func (r *Resource) ReadyActivation(values map[string]any) map[string]any {
	if r.readyEnv == nil {
		return values
	}
	return r.readyEnv.Activation(values)
}

// IsCollection reports whether the resource stands for a list of objects: a
// forEach template or an externalRef by selector.
func (r *Resource) IsCollection() bool {
	if len(r.ForEach) > 0 {
		return true
	}
	if r.External {
		md, _ := r.Template["metadata"].(map[string]any)
		_, ok := md["selector"]
		return ok
	}
	return false
}

// Dimension is one forEach dimension: an iterator and the list it ranges over.
type Dimension struct {
	// Name is the iterator's name.
	Name string
	// Expression returns the list.
	Expression *Expression
}

// Field is a value in a template (or in the status) that holds expressions.
type Field struct {
	// Path is the location of the value in the object.
	Path Path
	// Standalone is true when the value is exactly one expression: the field
	// takes the expression's value and type. Otherwise Parts are
	// concatenated into a string.
	Standalone bool
	// Parts are the literal and expression parts of the value, in order.
	Parts []Part
}

// Expressions returns the expressions of the field.
func (f *Field) Expressions() []*Expression {
	var out []*Expression
	for _, p := range f.Parts {
		if p.Expression != nil {
			out = append(out, p.Expression)
		}
	}
	return out
}

// Part is a literal string or an expression.
type Part struct {
	// Literal text, when Expression is nil.
	Literal string
	// Expression, or nil for a literal.
	Expression *Expression
}

// Expression is one compiled CEL expression.
type Expression struct {
	// Source is the expression's text, without ${ and }.
	Source string
	// plan builds the program on first use, once.
	plan    func() (cel.Program, error)
	once    sync.Once
	program cel.Program
	planErr error
	// Output is the expression's type.
	Output *cel.Type
	// References are the resource ids the expression reads, sorted.
	References []string
	// UsesSchema is true when the expression reads the instance.
	UsesSchema bool
	// Iterators are the forEach iterators the expression reads.
	Iterators []string
}

// Program returns the expression's program, planning it on first use. A
// program is planned once per compiled graph and is safe for concurrent use.
func (e *Expression) Program() (cel.Program, error) {
	e.once.Do(func() {
		if e.plan == nil {
			e.planErr = fmt.Errorf("expression %q was not compiled", e.Source)
			return
		}
		e.program, e.planErr = e.plan()
		e.plan = nil
	})
	return e.program, e.planErr
}

// Path locates a value inside an object.
type Path []PathElement

// PathElement is a map key or a list index.
type PathElement struct {
	// Key is the map key, when Index is negative.
	Key string
	// Index is the list index, or -1 for a map key.
	Index int
}

// String renders the path as a.b[2].c, quoting keys that are not plain.
func (p Path) String() string {
	var b strings.Builder
	for i, e := range p {
		switch {
		case e.Index >= 0:
			b.WriteString("[" + strconv.Itoa(e.Index) + "]")
		case isPlainKey(e.Key):
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(e.Key)
		default:
			b.WriteString("[" + strconv.Quote(e.Key) + "]")
		}
	}
	return b.String()
}

// under renders the path below the field path prefix, such as
// spec.resources[0].template with metadata.name.
func (p Path) under(prefix string) string {
	switch {
	case len(p) == 0:
		return prefix
	case p[0].Index >= 0:
		return prefix + p.String()
	}
	return prefix + "." + p.String()
}

func (p Path) child(key string) Path {
	return append(p[:len(p):len(p)], PathElement{Key: key, Index: -1})
}

func (p Path) index(i int) Path {
	return append(p[:len(p):len(p)], PathElement{Index: i})
}

func isPlainKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r == '_' || r == '-' || r == '/' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return !strings.ContainsAny(k, "./")
}
