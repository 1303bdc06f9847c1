package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The RGDs of pkg/graph's set corpus: platform (1-platform.yaml) builds on
// Application, and 2-stack.yaml defines Application (built on Database) and
// then Database.
const (
	platformRGD = "pkg/graph/testdata/sets/layered/1-platform.yaml"
	stackRGDs   = "pkg/graph/testdata/sets/layered/2-stack.yaml"
)

var (
	platformValid    = platformRGD + `: ResourceGraphDefinition "platform" is valid: kind Platform, 1 resources in order app` + "\n"
	applicationValid = stackRGDs + `: ResourceGraphDefinition "application" is valid: kind Application, 2 resources in order db, settings` + "\n"
	databaseValid    = stackRGDs + `#2: ResourceGraphDefinition "database" is valid: kind Database, 1 resources in order config` + "\n"
)

// TestValidateRGDsBuiltOnEachOther validates RGDs that use each other's kinds,
// whatever the order of the files and of the documents in them.
func TestValidateRGDsBuiltOnEachOther(t *testing.T) {
	t.Run("dependents first", func(t *testing.T) {
		res := rgd(t, "validate", platformRGD, stackRGDs)
		require.Equal(t, 0, res.code, "%s", res)
		assert.Empty(t, res.stderr)
		assert.Equal(t, platformValid+applicationValid+databaseValid, res.stdout, "one line per RGD, in the order of the files")
	})
	t.Run("dependencies first", func(t *testing.T) {
		res := rgd(t, "validate", stackRGDs, platformRGD)
		require.Equal(t, 0, res.code, "%s", res)
		assert.Empty(t, res.stderr)
		assert.Equal(t, applicationValid+databaseValid+platformValid, res.stdout)
	})
	t.Run("alone, the kind is unknown", func(t *testing.T) {
		res := rgd(t, "validate", platformRGD)
		require.Equal(t, 1, res.code, "%s", res)
		assert.Contains(t, res.stderr, platformRGD+`: rgd "platform": resource "app": spec.resources[0].template.kind: unknown kind Application`)
	})
}

// TestRGDAsCRD passes RGDs with --crd: their generated CRDs serve their
// kinds; they are compiled but not reported as valid.
func TestRGDAsCRD(t *testing.T) {
	t.Run("validate", func(t *testing.T) {
		res := rgd(t, "validate", "--crd", stackRGDs, platformRGD)
		require.Equal(t, 0, res.code, "%s", res)
		assert.Empty(t, res.stderr)
		assert.Equal(t, platformValid, res.stdout)
	})
	t.Run("the same file as argument and --crd", func(t *testing.T) {
		res := rgd(t, "validate", "--crd", stackRGDs, platformRGD, stackRGDs)
		require.Equal(t, 0, res.code, "%s", res)
		assert.Equal(t, platformValid+applicationValid+databaseValid, res.stdout)
	})
	t.Run("with a CRD file", func(t *testing.T) {
		res := rgd(t, "validate", "--crd", "examples/cartsstack/table-crd.yaml", "--crd", stackRGDs, "examples/cartsstack/rgd.yaml", platformRGD)
		require.Equal(t, 0, res.code, "%s", res)
		assert.Equal(t, 2, strings.Count(res.stdout, " is valid: "), "%s", res)
	})
	for command, want := range map[string]string{"crd": "\n    kind: Platform\n", "graph": `"app" [label="1. app (Application)"];`} {
		t.Run(command, func(t *testing.T) {
			res := rgd(t, command, "--crd", stackRGDs, platformRGD)
			require.Equal(t, 0, res.code, "%s", res)
			assert.Empty(t, res.stderr)
			assert.Contains(t, res.stdout, want)
		})
	}
	t.Run("an invalid RGD passed with --crd", func(t *testing.T) {
		res := rgd(t, "validate", "--crd", "pkg/graph/testdata/sets/invalid-dependency/db.yaml", "pkg/graph/testdata/sets/invalid-dependency/app.yaml")
		require.Equal(t, 1, res.code, "%s", res)
		assert.Empty(t, res.stdout)
		all := readGoldenLines(t, "pkg/graph/testdata/sets/invalid-dependency.golden", map[string]string{
			"application": "pkg/graph/testdata/sets/invalid-dependency/app.yaml",
			"database":    "pkg/graph/testdata/sets/invalid-dependency/db.yaml",
		})
		// The problems of the --crd RGDs come first.
		fromCRDFlag := func(l string) bool {
			return strings.HasPrefix(l, "pkg/graph/testdata/sets/invalid-dependency/db.yaml: ")
		}
		want := slices.DeleteFunc(slices.Clone(all), func(l string) bool { return !fromCRDFlag(l) })
		want = append(want, slices.DeleteFunc(slices.Clone(all), fromCRDFlag)...)
		assert.Equal(t, strings.Join(want, "\n")+fmt.Sprintf("\nrgd: %d problem(s) found\n", len(want)), res.stderr)
	})
}

// TestValidateCycleBetweenRGDs checks that RGDs using each other's kinds are
// each rejected, naming the others.
func TestValidateCycleBetweenRGDs(t *testing.T) {
	dir := "pkg/graph/testdata/sets/cycle/"
	sources := map[string]string{"chicken": dir + "a.yaml", "egg": dir + "b.yaml", "farm": dir + "c.yaml"}
	want := readGoldenLines(t, "pkg/graph/testdata/sets/cycle.golden", sources)
	for _, order := range [][]string{{"a", "b", "c"}, {"c", "b", "a"}} {
		t.Run(strings.Join(order, ""), func(t *testing.T) {
			args := []string{"validate"}
			for _, f := range order {
				args = append(args, dir+f+".yaml")
			}
			res := rgd(t, args...)
			require.Equal(t, 1, res.code, "%s", res)
			assert.Empty(t, res.stdout)
			assert.ElementsMatch(t, append(want, fmt.Sprintf("rgd: %d problem(s) found", len(want))), strings.Split(strings.TrimSuffix(res.stderr, "\n"), "\n"))
			assert.Contains(t, res.stderr, `rgd "chicken": resource "egg": spec.resources[0].template.kind: kind Egg of apiVersion kro.run/v1alpha1 is defined by rgd "egg", and the RGDs build on each other's kinds in a cycle: chicken -> egg -> chicken`)
		})
	}
}

// TestValidateDecodeErrors checks that an RGD that does not decode gets one
// line per problem, each with the file, the RGD and the field.
func TestValidateDecodeErrors(t *testing.T) {
	path := "pkg/manifest/testdata/decode/several-problems.yaml"
	want, err := os.ReadFile(filepath.Join(repoRoot(t), strings.TrimSuffix(path, ".yaml")+".err"))
	require.NoError(t, err)
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(string(want), "\n"), "\n") {
		lines = append(lines, path+": "+l)
	}
	res := rgd(t, "validate", path)
	require.Equal(t, 1, res.code, "%s", res)
	assert.Empty(t, res.stdout)
	assert.Equal(t, strings.Join(lines, "\n")+fmt.Sprintf("\nrgd: %d problem(s) found\n", len(lines)), res.stderr)
}

// readGoldenLines returns the error lines of a golden file of pkg/graph's set
// corpus, each prefixed with the file its RGD is in, as rgd validate prints
// them.
func readGoldenLines(t *testing.T, golden string, sources map[string]string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), golden))
	require.NoError(t, err)
	var out []string
	source := ""
	for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if name, ok := strings.CutPrefix(l, "== "); ok {
			source = sources[name]
			continue
		}
		if strings.HasPrefix(l, "rgd ") {
			require.NotEmpty(t, source, "no source for %q", l)
			out = append(out, source+": "+l)
		}
	}
	return out
}
