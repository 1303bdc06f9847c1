package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"

	"github.com/rgd-dev/rgd/pkg/graph"
	"github.com/rgd-dev/rgd/pkg/manifest"
	"github.com/rgd-dev/rgd/pkg/render"
)

func newRenderCommand() *cobra.Command {
	var sf schemaFlags
	var instancePath string
	cmd := &cobra.Command{
		Use:   "render RGD --instance FILE",
		Short: "Print the objects an instance would produce, without a cluster",
		Long: `Render compiles the RGD, defaults the instance by the generated schema and prints the
instance followed by every child manifest in topological order. Values that depend on the
live state of other resources (a status field, an external reference) cannot be known
offline: they are listed as pending, naming the resource, the field and the expression.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if instancePath == "" {
				return usageError("--instance FILE is required")
			}
			g, _, err := compileOne(cmd.Context(), args[0], &sf)
			if err != nil {
				return err
			}
			docs, err := manifest.ReadFile(instancePath)
			if err != nil {
				return usageError("%v", err)
			}
			if len(docs) != 1 {
				return usageError("%s holds %d documents; expected one instance", instancePath, len(docs))
			}
			inst := docs[0].Object
			if gvk := inst.GroupVersionKind(); gvk != g.Instance.GVK {
				return &exitError{code: 1, err: fmt.Errorf("%s: the instance is a %s, the RGD defines %s", instancePath, gvk, g.Instance.GVK)}
			}
			if err := defaultInstance(g, inst.Object); err != nil {
				return &exitError{code: 1, err: fmt.Errorf("%s: %w", instancePath, err)}
			}
			if g.Instance.Namespaced && inst.GetNamespace() == "" {
				inst.SetNamespace("default")
			}
			return renderAll(cmd.OutOrStdout(), g, inst.Object, inst.GetNamespace())
		},
	}
	cmd.Flags().StringVar(&instancePath, "instance", "", "the instance to render (YAML or JSON)")
	sf.register(cmd)
	return cmd
}

// defaultInstance applies the defaults of the generated CRD to the instance,
// as the API server would.
func defaultInstance(g *graph.Graph, obj map[string]any) error {
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

// renderAll prints the instance and the children in topological order; a
// rendered child stands in for its live state when dependents read it.
func renderAll(w io.Writer, g *graph.Graph, instance map[string]any, namespace string) error {
	fmt.Fprintf(w, "# instance %s (defaulted)\n", g.Instance.GVK.Kind)
	if err := writeYAML(w, instance); err != nil {
		return err
	}
	in := render.NewInputs(g, instance, nil)
	var pending []render.Pending
	for _, r := range g.Resources {
		res, err := render.Resource(r, in, namespace, render.Options{})
		if err != nil {
			return &exitError{code: 1, err: err}
		}
		switch {
		case !res.Included:
			fmt.Fprintf(w, "---\n# %s (%s): skipped, includeWhen is false\n", r.ID, r.GVK.Kind)
			continue
		case len(res.Pending) > 0:
			pending = append(pending, res.Pending...)
			fmt.Fprintf(w, "---\n# %s (%s): pending, it needs live state:\n", r.ID, r.GVK.Kind)
			for _, p := range res.Pending {
				fmt.Fprintf(w, "#   %s\n", p)
			}
			continue
		case r.External:
			fmt.Fprintf(w, "---\n# %s (%s): external reference, read from the cluster, never written\n", r.ID, r.GVK.Kind)
			if err := writeYAML(w, res.Objects[0]); err != nil {
				return err
			}
			continue
		}
		for i, obj := range res.Objects {
			suffix := ""
			if len(r.ForEach) > 0 {
				suffix = fmt.Sprintf(" item %d", i)
			}
			fmt.Fprintf(w, "---\n# %s (%s)%s\n", r.ID, r.GVK.Kind, suffix)
			if err := writeYAML(w, obj); err != nil {
				return err
			}
		}
		if r.IsCollection() {
			items := make([]any, len(res.Objects))
			for i, o := range res.Objects {
				items[i] = o
			}
			in.Set(r.ID, items)
		} else if len(res.Objects) == 1 {
			in.Set(r.ID, res.Objects[0])
		}
	}
	status, statusPending, err := render.Status(g, in)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	fmt.Fprintf(w, "---\n# instance status as far as it can be known offline\n")
	if err := writeYAML(w, map[string]any{"status": status}); err != nil {
		return err
	}
	pending = append(pending, statusPending...)
	if len(pending) > 0 {
		lines := make([]string, len(pending))
		for i, p := range pending {
			lines[i] = "#   " + p.String()
		}
		fmt.Fprintf(w, "# pending values (%d):\n%s\n", len(pending), strings.Join(lines, "\n"))
	}
	return nil
}
