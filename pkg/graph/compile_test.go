package graph

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/manifest"
	"github.com/rgd-dev/rgd/pkg/schemas"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testResolver knows the built-in kinds and the CRDs under testdata/crds.
func testResolver(t testing.TB) schemas.Resolver {
	t.Helper()
	crdFiles, err := filepath.Glob("testdata/crds/*.yaml")
	require.NoError(t, err)
	chain := []schemas.Resolver{schemas.Builtin()}
	if len(crdFiles) > 0 {
		r, err := schemas.LoadCRDFiles(crdFiles...)
		require.NoError(t, err)
		chain = append([]schemas.Resolver{r}, chain...)
	}
	return schemas.Chain(chain...)
}

func loadRGD(t testing.TB, path string) *v1alpha1.ResourceGraphDefinition {
	t.Helper()
	docs, err := manifest.ReadFile(path)
	require.NoError(t, err)
	for _, d := range docs {
		if d.IsRGD() {
			rgd, err := d.RGD()
			require.NoError(t, err)
			return rgd
		}
	}
	t.Fatalf("%s holds no ResourceGraphDefinition", path)
	return nil
}

func golden(t *testing.T, path string, got string) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "golden file missing; run go test ./pkg/graph -run %s -update", t.Name())
	require.Equal(t, string(want), got)
}

// TestInvalidRGDs compiles every RGD under testdata/invalid and compares the
// complete error list with the golden .err file beside it.
func TestInvalidRGDs(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 40)
	resolver := testResolver(t)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			_, err := Compile(context.Background(), loadRGD(t, f), Options{Resolver: resolver})
			require.Error(t, err, "the RGD must be rejected")
			var list ErrorList
			require.True(t, errors.As(err, &list), "the error must be an ErrorList, got %T", err)
			for _, e := range list {
				require.Equal(t, "demo", e.RGD)
				require.NotEmpty(t, e.Field, "every error names a field: %s", e)
			}
			golden(t, strings.TrimSuffix(f, ".yaml")+".err", err.Error()+"\n")
		})
	}
}

// TestValidRGDs compiles every RGD under testdata/valid and compares the
// topological order, dependencies and generated CRD with golden files.
func TestValidRGDs(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.yaml")
	require.NoError(t, err)
	resolver := testResolver(t)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			g, err := Compile(context.Background(), loadRGD(t, f), Options{Resolver: resolver})
			require.NoError(t, err)
			golden(t, strings.TrimSuffix(f, ".yaml")+".golden", describe(t, g))
		})
	}
}

// describe summarises a graph for golden files.
func describe(t *testing.T, g *Graph) string {
	s, err := describeGraph(g)
	require.NoError(t, err)
	return s
}

func describeGraph(g *Graph) (string, error) {
	var b strings.Builder
	b.WriteString("order: " + strings.Join(g.TopologicalOrder(), ", ") + "\n")
	for _, r := range g.Resources {
		b.WriteString("- " + r.ID + " " + r.GVK.String() + " -> " + r.GVR.Resource)
		if !r.Namespaced {
			b.WriteString(" (cluster)")
		}
		if r.External {
			b.WriteString(" (external)")
		}
		if r.IsCollection() {
			b.WriteString(" (collection)")
		}
		b.WriteString("\n")
		if len(r.Dependencies) > 0 {
			b.WriteString("  depends on: " + strings.Join(r.Dependencies, ", ") + "\n")
		}
		for _, f := range r.Fields {
			var srcs []string
			for _, e := range f.Expressions() {
				srcs = append(srcs, e.Source+" : "+e.Output.String())
			}
			b.WriteString("  " + f.Path.String() + " = " + strings.Join(srcs, " + ") + "\n")
		}
		for _, e := range r.IncludeWhen {
			b.WriteString("  includeWhen " + e.Source + "\n")
		}
		for _, e := range r.ReadyWhen {
			b.WriteString("  readyWhen " + e.Source + "\n")
		}
		for _, d := range r.ForEach {
			b.WriteString("  forEach " + d.Name + " in " + d.Expression.Source + "\n")
		}
		if r.DeletionPolicy != "" {
			b.WriteString(fmt.Sprintf("  deletionPolicy %s (orphans: %t)\n", r.DeletionPolicy, r.Orphans()))
		}
		for _, p := range r.ExternalFields {
			b.WriteString("  externalField " + strings.Join(p, ".") + "\n")
		}
	}
	for _, e := range g.Instance.Conditions {
		b.WriteString("status condition " + e.Source + " : " + e.Output.String() + "\n")
	}
	for _, w := range g.Warnings {
		b.WriteString("warning: " + w.Error() + "\n")
	}
	if g.ServiceAccount != nil {
		b.WriteString("service account: " + g.ServiceAccount.String() + "\n")
	}
	crd, err := yaml.Marshal(g.CRD)
	if err != nil {
		return "", err
	}
	b.WriteString("crd:\n")
	for _, line := range strings.Split(strings.TrimRight(string(crd), "\n"), "\n") {
		b.WriteString("  " + line + "\n")
	}
	return b.String(), nil
}
