package graph

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/manifest"
	"github.com/rgd-dev/rgd/pkg/schemas"
)

// loadSet reads every RGD of the YAML files of dir, files by name, documents
// in order.
func loadSet(t *testing.T, dir string) []*v1alpha1.ResourceGraphDefinition {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	var out []*v1alpha1.ResourceGraphDefinition
	for _, f := range files {
		docs, err := manifest.ReadFile(f)
		require.NoError(t, err)
		for _, d := range docs {
			rgd, err := d.RGD()
			require.NoError(t, err)
			out = append(out, rgd)
		}
	}
	require.NotEmpty(t, out)
	return out
}

// describeSet summarises the results of a set: per RGD, its problems, or its
// order and the types of its expressions.
func describeSet(rgds []*v1alpha1.ResourceGraphDefinition, results []SetResult) string {
	var b strings.Builder
	for i, rgd := range rgds {
		b.WriteString("== " + rgd.Name + "\n")
		r := results[i]
		if r.Err != nil {
			b.WriteString(r.Err.Error() + "\n")
			continue
		}
		b.WriteString("kind " + r.Graph.Instance.GVK.String() + ", order " + strings.Join(r.Graph.TopologicalOrder(), ", ") + "\n")
		fields := slices.Clone(r.Graph.Instance.Status)
		for _, res := range r.Graph.Resources {
			fields = append(fields, res.Fields...)
		}
		for _, f := range fields {
			for _, e := range f.Expressions() {
				b.WriteString("  " + f.Path.String() + " = " + e.Source + " : " + e.Output.String() + "\n")
			}
		}
	}
	return b.String()
}

// TestCompileSets compiles the RGDs of each folder under testdata/sets
// together, in the order of the files and in the reverse order, and compares
// the results with the golden file of the folder.
func TestCompileSets(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("testdata", "sets"))
	require.NoError(t, err)
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join("testdata", "sets", e.Name()))
		}
	}
	require.GreaterOrEqual(t, len(dirs), 6)
	resolver := schemas.Builtin()
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			rgds := loadSet(t, dir)
			results := CompileSet(context.Background(), rgds, Options{Resolver: resolver})
			require.Len(t, results, len(rgds))
			for _, r := range results {
				var list ErrorList
				require.True(t, r.Err == nil || errors.As(r.Err, &list), "an invalid RGD gives an ErrorList, got %T", r.Err)
				require.True(t, (r.Graph == nil) != (r.Err == nil), "a graph or an error")
			}
			got := describeSet(rgds, results)

			reversed := slices.Clone(rgds)
			slices.Reverse(reversed)
			back := CompileSet(context.Background(), reversed, Options{Resolver: resolver})
			slices.Reverse(back)
			require.Equal(t, got, describeSet(rgds, back), "the order of the RGDs does not matter")

			golden(t, dir+".golden", got)
		})
	}
}

func TestCompileSetAlone(t *testing.T) {
	t.Run("an RGD alone compiles as with Compile", func(t *testing.T) {
		rgd := loadRGD(t, "testdata/valid/webapp.yaml")
		results := CompileSet(context.Background(), []*v1alpha1.ResourceGraphDefinition{rgd}, Options{Resolver: testResolver(t)})
		require.NoError(t, results[0].Err)
		g, err := Compile(context.Background(), rgd, Options{Resolver: testResolver(t)})
		require.NoError(t, err)
		require.Equal(t, g.TopologicalOrder(), results[0].Graph.TopologicalOrder())
	})
	t.Run("no resolver", func(t *testing.T) {
		results := CompileSet(context.Background(), []*v1alpha1.ResourceGraphDefinition{{}}, Options{})
		require.EqualError(t, results[0].Err, "graph.CompileSet needs a schema resolver")
	})
	t.Run("a kind unknown to the set and the resolver", func(t *testing.T) {
		rgds := loadSet(t, "testdata/sets/layered")
		results := CompileSet(context.Background(), rgds[:1], Options{Resolver: schemas.Builtin()})
		var list ErrorList
		require.True(t, errors.As(results[0].Err, &list))
		require.True(t, list.Has(CodeUnknownKind), "%v", list)
	})
}
