package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rgd-dev/rgd/pkg/engine"
	"github.com/rgd-dev/rgd/pkg/graph"
	"github.com/rgd-dev/rgd/pkg/manifest"
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
			return renderAll(cmd.OutOrStdout(), g, inst.Object)
		},
	}
	cmd.Flags().StringVar(&instancePath, "instance", "", "the instance to render (YAML or JSON)")
	sf.register(cmd)
	return cmd
}

// renderAll prints the instance and the children in topological order, with
// what cannot be known offline as comments.
func renderAll(w io.Writer, g *graph.Graph, instance map[string]any) error {
	out, err := engine.Render(g, instance)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	fmt.Fprintf(w, "# instance %s (defaulted)\n", g.Instance.GVK.Kind)
	if err := writeYAML(w, out.Instance); err != nil {
		return err
	}
	for _, rr := range out.Resources {
		r := rr.Resource
		switch {
		case rr.Skipped:
			fmt.Fprintf(w, "---\n# %s (%s): skipped, includeWhen is false\n", r.ID, r.GVK.Kind)
			continue
		case len(rr.Pending) > 0:
			fmt.Fprintf(w, "---\n# %s (%s): pending, it needs live state:\n", r.ID, r.GVK.Kind)
			for _, p := range rr.Pending {
				fmt.Fprintf(w, "#   %s\n", p)
			}
			continue
		case r.External:
			fmt.Fprintf(w, "---\n# %s (%s): external reference, read from the cluster, never written\n", r.ID, r.GVK.Kind)
			if err := writeYAML(w, rr.Objects[0]); err != nil {
				return err
			}
			continue
		}
		for i, obj := range rr.Objects {
			suffix := ""
			if len(r.ForEach) > 0 {
				suffix = fmt.Sprintf(" item %d", i)
			}
			fmt.Fprintf(w, "---\n# %s (%s)%s\n", r.ID, r.GVK.Kind, suffix)
			if err := writeYAML(w, obj); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(w, "---\n# instance status as far as it can be known offline\n")
	if err := writeYAML(w, map[string]any{"status": out.Status}); err != nil {
		return err
	}
	if len(out.Pending) > 0 {
		lines := make([]string, len(out.Pending))
		for i, p := range out.Pending {
			lines[i] = "#   " + p.String()
		}
		fmt.Fprintf(w, "# pending values (%d):\n%s\n", len(out.Pending), strings.Join(lines, "\n"))
	}
	return nil
}
