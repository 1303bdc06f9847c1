package engine

import (
	"context"
	"fmt"

	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/graph"
	"github.com/rgd-dev/rgd/pkg/render"
	"github.com/rgd-dev/rgd/pkg/schemas"
)

// Compile checks an RGD and compiles it without a cluster. A nil resolver
// knows the built-in kinds of Kubernetes; chain schemas.LoadCRDFiles or
// schemas.Discovery in front of schemas.Builtin for other kinds. Invalid RGDs
// give a graph.ErrorList with every problem; a valid one's Graph.Warnings
// list what does not stop it (see graph.CodeCostEstimate).
func Compile(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition, resolver schemas.Resolver) (*graph.Graph, error) {
	if resolver == nil {
		resolver = schemas.Builtin()
	}
	return graph.Compile(ctx, rgd, graph.Options{Resolver: resolver})
}

// Rendered is what an instance would produce, computed offline.
type Rendered struct {
	// Instance is the instance with the defaults of its schema applied.
	Instance map[string]any
	// Resources are the graph's resources in topological order.
	Resources []RenderedResource
	// Status is the instance status as far as it can be known.
	Status map[string]any
	// Pending lists every value that needs the live state of a resource.
	Pending []render.Pending
}

// RenderedResource is one resource of a rendering.
type RenderedResource struct {
	// Resource is the compiled resource.
	Resource *graph.Resource
	// Skipped is true when an includeWhen expression is false.
	Skipped bool
	// Objects are the rendered objects (for an external reference: the
	// reference itself). Empty when values are pending.
	Objects []map[string]any
	// Pending lists the values that need live state.
	Pending []render.Pending
}

// Render computes, without a cluster, the objects an instance produces. A
// rendered child stands in for its live state when its dependents read it;
// values that depend on anything else (a status, an external reference) are
// reported as pending, never guessed.
func Render(g *graph.Graph, instance map[string]any) (*Rendered, error) {
	inst := runtime.DeepCopyJSON(instance)
	if err := Default(g, inst); err != nil {
		return nil, err
	}
	namespace := ""
	if md, ok := inst["metadata"].(map[string]any); ok {
		namespace, _ = md["namespace"].(string)
		if namespace == "" && g.Instance.Namespaced {
			namespace = "default"
			md["namespace"] = namespace
		}
	}
	out := &Rendered{Instance: inst}
	in := render.NewInputs(g, inst, nil)
	for _, r := range render.Offline(g, in, namespace, render.Options{}) {
		if r.Err != nil {
			return nil, r.Err
		}
		rr := RenderedResource{Resource: r.Resource, Skipped: !r.Result.Included, Pending: r.Result.Pending}
		if r.Result.Included && len(r.Result.Pending) == 0 {
			rr.Objects = r.Result.Objects
		}
		out.Pending = append(out.Pending, r.Result.Pending...)
		out.Resources = append(out.Resources, rr)
	}
	status, pending, err := render.Status(g, in)
	if err != nil {
		return nil, err
	}
	out.Status = status
	out.Pending = append(out.Pending, pending...)
	return out, nil
}

// Default applies the defaults of the generated CRD's schema to an instance,
// as the API server does.
func Default(g *graph.Graph, obj map[string]any) error {
	v := g.CRD.Spec.Versions[0]
	internal := &apiextensions.JSONSchemaProps{}
	if err := extv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
		return fmt.Errorf("converting the generated schema: %w", err)
	}
	structural, err := structuralschema.NewStructural(internal)
	if err != nil {
		return fmt.Errorf("the generated schema is not structural: %w", err)
	}
	defaulting.Default(obj, structural)
	return nil
}
