package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/graph"
	"github.com/rgd-dev/rgd/pkg/manifest"
	"github.com/rgd-dev/rgd/pkg/schemas"
)

func init() {
	extraCommands = append(extraCommands, newValidateCommand, newCRDCommand, newGraphCommand, newRenderCommand)
}

// schemaFlags are the flags that choose where schemas come from.
type schemaFlags struct {
	crdFiles   []string
	kubeconfig string
}

func (f *schemaFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.crdFiles, "crd", nil, "a file of CRDs, or of RGDs, whose kinds the RGD uses (repeatable)")
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "resolve schemas from this cluster too (default: offline)")
}

// resolver chains the user's CRDs, the cluster (when asked) and the built-in
// kinds of Kubernetes. A --crd file that holds RGDs is left to definitions.
func (f *schemaFlags) resolver() (schemas.Resolver, error) {
	var chain []schemas.Resolver
	var crdFiles []string
	for _, p := range f.crdFiles {
		if _, err := os.Stat(p); err != nil {
			return nil, usageError("--crd %s: %v", p, err)
		}
		if !holdsRGD(p) {
			crdFiles = append(crdFiles, p)
		}
	}
	if len(crdFiles) > 0 {
		r, err := schemas.LoadCRDFiles(crdFiles...)
		if err != nil {
			return nil, usageError("%v", err)
		}
		chain = append(chain, r)
	}
	if f.kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", f.kubeconfig)
		if err != nil {
			return nil, usageError("--kubeconfig %s: %v", f.kubeconfig, err)
		}
		r, err := schemas.Discovery(cfg, schemas.DiscoveryOptions{})
		if err != nil {
			return nil, fmt.Errorf("connecting to the cluster: %w", err)
		}
		chain = append(chain, r)
	}
	chain = append(chain, schemas.Builtin())
	return schemas.Chain(chain...), nil
}

// holdsRGD reports whether a file holds a ResourceGraphDefinition.
func holdsRGD(path string) bool {
	docs, err := manifest.ReadFile(path)
	return err == nil && slices.ContainsFunc(docs, manifest.Document.IsRGD)
}

// definitions reads the RGDs of the --crd files (but of none given as
// args): compiled with the RGDs of the command (compileSet), they serve
// their kinds to them.
func (f *schemaFlags) definitions(args []string) ([]loadedRGD, error) {
	var files []string
	for _, p := range f.crdFiles {
		if holdsRGD(p) && !slices.Contains(args, p) {
			files = append(files, p)
		}
	}
	rgds, problems, err := readRGDs(files)
	if err == nil && len(problems) > 0 {
		err = usageError("--crd: %s", strings.Join(problems, "\n"))
	}
	return rgds, err
}

// compileSet compiles the RGDs of the command (read from args) together
// with those of the --crd files, whatever their order (graph.CompileSet),
// with opts and resolver. It returns the results of rgds, and the problems of
// the --crd RGDs, one a line.
func compileSet(ctx context.Context, rgds []loadedRGD, args []string, sf *schemaFlags, resolver schemas.Resolver, opts graph.Options) ([]graph.SetResult, []string, error) {
	extra, err := sf.definitions(args)
	if err != nil {
		return nil, nil, err
	}
	all := make([]*v1alpha1.ResourceGraphDefinition, 0, len(rgds)+len(extra))
	for _, l := range append(slices.Clone(rgds), extra...) {
		all = append(all, l.rgd)
	}
	opts.Resolver = resolver
	results := graph.CompileSet(ctx, all, opts)
	var problems []string
	for i, l := range extra {
		if err := results[len(rgds)+i].Err; err != nil {
			problems = append(problems, prefixLines(l.source, err)...)
		}
	}
	return results[:len(rgds)], problems, nil
}

// loadedRGD is one RGD read from a file.
type loadedRGD struct {
	source string
	rgd    *v1alpha1.ResourceGraphDefinition
}

// readRGDs reads every RGD of the files. A file that cannot be read is a
// usage error (exit 2); a document that does not decode is reported as an
// invalid RGD.
func readRGDs(paths []string) ([]loadedRGD, []string, error) {
	var out []loadedRGD
	var problems []string
	for _, p := range paths {
		docs, err := manifest.ReadFile(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
				return nil, nil, usageError("%v", err)
			}
			problems = append(problems, err.Error())
			continue
		}
		found := false
		for _, d := range docs {
			if !d.IsRGD() {
				continue
			}
			found = true
			rgd, err := d.RGD()
			if err != nil {
				problems = append(problems, prefixLines(d.Source, err)...)
				continue
			}
			out = append(out, loadedRGD{source: d.Source, rgd: rgd})
		}
		if !found {
			problems = append(problems, fmt.Sprintf("%s: no ResourceGraphDefinition in the file", p))
		}
	}
	return out, problems, nil
}

func newValidateCommand() *cobra.Command {
	var sf schemaFlags
	var strict bool
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check ResourceGraphDefinitions without a cluster",
		Long: `Validate compiles every ResourceGraphDefinition in the files: SimpleSchema, templates,
CEL expressions (type-checked against the schemas of the kinds they fill), dependencies and
every rule of the API. It exits 0 when all are valid, 1 with every problem otherwise, and 2
on usage errors or unreadable files. Kinds that are not built into Kubernetes need their CRD
(--crd FILE) or a cluster (--kubeconfig). RGDs may build on each other's kinds: the RGDs of
the files, and those of --crd files that hold RGDs, are compiled in the order of their
dependencies, each kind checked against its generated CRD. An expression whose estimated CEL
cost is above the limit is a warning, printed on stderr (kro accepts it; every evaluation is
bounded at run time); --strict makes it a problem.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resolver, err := sf.resolver()
			if err != nil {
				return err
			}
			rgds, problems, err := readRGDs(args)
			if err != nil {
				return err
			}
			results, extraProblems, err := compileSet(cmd.Context(), rgds, args, &sf, resolver, graph.Options{StrictCostEstimate: strict})
			if err != nil {
				return err
			}
			problems = append(problems, extraProblems...)
			out := cmd.OutOrStdout()
			for i, l := range rgds {
				g, err := results[i].Graph, results[i].Err
				if err != nil {
					problems = append(problems, prefixLines(l.source, err)...)
					continue
				}
				identity := ""
				if g.ServiceAccount != nil {
					identity = "; children are written as " + g.ServiceAccount.Describe()
				}
				fmt.Fprintf(out, "%s: ResourceGraphDefinition %q is valid: kind %s, %d resources in order %s%s\n",
					l.source, l.rgd.Name, g.Instance.GVK.Kind, len(g.Resources), strings.Join(g.TopologicalOrder(), ", "), identity)
				for _, w := range g.Warnings {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: warning: %v\n", l.source, w)
				}
			}
			if len(problems) > 0 {
				for _, p := range problems {
					fmt.Fprintln(cmd.ErrOrStderr(), p)
				}
				return &exitError{code: 1, err: fmt.Errorf("%d problem(s) found", len(problems))}
			}
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().BoolVar(&strict, "strict", false, "reject expressions whose estimated CEL cost is above the limit, instead of warning")
	return cmd
}

// unknownKindHint is what the CLI adds to an unknown kind: where its schema
// can come from. (The engine's message says nothing of flags: it reaches
// RGD status in a cluster.)
const unknownKindHint = " (pass its CRD with --crd FILE, or --kubeconfig to read it from a cluster)"

func prefixLines(source string, err error) []string {
	var list graph.ErrorList
	if errors.As(err, &list) {
		out := make([]string, len(list))
		for i, e := range list {
			out[i] = source + ": " + e.Error()
			if e.Code == graph.CodeUnknownKind {
				out[i] += unknownKindHint
			}
		}
		return out
	}
	lines := strings.Split(err.Error(), "\n")
	for i := range lines {
		lines[i] = source + ": " + lines[i]
	}
	return lines
}

// compileOne reads exactly one RGD from a file and compiles it.
func compileOne(ctx context.Context, path string, sf *schemaFlags) (*graph.Graph, *v1alpha1.ResourceGraphDefinition, error) {
	resolver, err := sf.resolver()
	if err != nil {
		return nil, nil, err
	}
	rgds, problems, err := readRGDs([]string{path})
	if err != nil {
		return nil, nil, err
	}
	if len(problems) > 0 {
		return nil, nil, &exitError{code: 1, err: errors.New(strings.Join(problems, "\n"))}
	}
	if len(rgds) != 1 {
		return nil, nil, usageError("%s holds %d ResourceGraphDefinitions; this command takes one", path, len(rgds))
	}
	results, _, err := compileSet(ctx, rgds, []string{path}, sf, resolver, graph.Options{})
	if err != nil {
		return nil, nil, err
	}
	g, err := results[0].Graph, results[0].Err
	if err != nil {
		return nil, nil, &exitError{code: 1, err: errors.New(strings.Join(prefixLines(rgds[0].source, err), "\n"))}
	}
	return g, rgds[0].rgd, nil
}

func newCRDCommand() *cobra.Command {
	var sf schemaFlags
	cmd := &cobra.Command{
		Use:   "crd FILE",
		Short: "Print the CustomResourceDefinition an RGD generates",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, _, err := compileOne(cmd.Context(), args[0], &sf)
			if err != nil {
				return err
			}
			crd := g.CRD.DeepCopy()
			crd.APIVersion, crd.Kind = "apiextensions.k8s.io/v1", "CustomResourceDefinition"
			return writeYAML(cmd.OutOrStdout(), crd)
		},
	}
	sf.register(cmd)
	return cmd
}

func writeYAML(w io.Writer, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func newGraphCommand() *cobra.Command {
	var sf schemaFlags
	var format string
	cmd := &cobra.Command{
		Use:   "graph FILE",
		Short: "Print an RGD's dependency graph as Graphviz dot or Mermaid",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "dot" && format != "mermaid" {
				return usageError("--format %q: expected dot or mermaid", format)
			}
			g, _, err := compileOne(cmd.Context(), args[0], &sf)
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), drawGraph(g, format))
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "dot", "output format: dot or mermaid")
	sf.register(cmd)
	return cmd
}

// drawGraph renders the DAG; nodes are labelled "id (Kind)" and numbered in
// topological order.
func drawGraph(g *graph.Graph, format string) string {
	var b strings.Builder
	label := func(i int, r *graph.Resource) string {
		kind := r.GVK.Kind
		switch {
		case r.External:
			kind += ", external"
		case len(r.ForEach) > 0:
			kind += ", forEach"
		}
		return fmt.Sprintf("%d. %s (%s)", i+1, r.ID, kind)
	}
	if format == "mermaid" {
		b.WriteString("graph TD\n")
		for i, r := range g.Resources {
			fmt.Fprintf(&b, "  %s[\"%s\"]\n", r.ID, label(i, r))
		}
		for _, r := range g.Resources {
			for _, d := range r.Dependencies {
				fmt.Fprintf(&b, "  %s --> %s\n", d, r.ID)
			}
		}
		return b.String()
	}
	fmt.Fprintf(&b, "digraph %q {\n  rankdir=LR;\n  node [shape=box];\n", g.Name)
	for i, r := range g.Resources {
		style := ""
		if r.External {
			style = ", style=dashed"
		}
		fmt.Fprintf(&b, "  %q [label=%q%s];\n", r.ID, label(i, r), style)
	}
	for _, r := range g.Resources {
		for _, d := range r.Dependencies {
			fmt.Fprintf(&b, "  %q -> %q;\n", d, r.ID)
		}
	}
	b.WriteString("}\n")
	return b.String()
}
