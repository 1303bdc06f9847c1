package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// warnedRGD returns the path of an RGD of pkg/graph's table of warned RGDs
// and the lines of its golden .warn file.
func warnedRGD(t *testing.T, name string) (string, []string) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join(repoRoot(t), "pkg", "graph", "testdata", "warned", name+".warn"))
	require.NoError(t, err)
	return "pkg/graph/testdata/warned/" + name + ".yaml", strings.Split(strings.TrimRight(string(want), "\n"), "\n")
}

// TestValidateWarnsOfCostlyExpressions checks that an expression whose
// estimated CEL cost is above the limit is a warning on stderr, with exit
// 0, and a problem with --strict, with exit 1.
func TestValidateWarnsOfCostlyExpressions(t *testing.T) {
	path, lines := warnedRGD(t, "nested-joins")
	require.Len(t, lines, 1)

	res := rgd(t, "validate", path)
	require.Equal(t, 0, res.code, "%s", res)
	assert.Equal(t, path+`: ResourceGraphDefinition "demo" is valid: kind Demo, 1 resources in order roster`+"\n", res.stdout)
	assert.Equal(t, path+": warning: "+lines[0]+"\n", res.stderr)

	res = rgd(t, "validate", "--strict", path)
	require.Equal(t, 1, res.code, "%s", res)
	assert.Empty(t, res.stdout)
	problem, _, _ := strings.Cut(lines[0], "; the RGD is accepted")
	assert.Equal(t, path+": "+problem+" (rejected: strict cost estimates are on)\nrgd: 1 problem(s) found\n", res.stderr)
}

// TestValidateListsRange checks that lists.range over what the schema
// bounds (a list's maxItems, an integer's maximum) is valid without a
// warning, in strict mode too.
func TestValidateListsRange(t *testing.T) {
	for _, args := range [][]string{{"validate"}, {"validate", "--strict"}} {
		res := rgd(t, append(args, "pkg/graph/testdata/valid/lists-range.yaml")...)
		require.Equal(t, 0, res.code, "%s", res)
		assert.Empty(t, res.stderr)
		assert.Contains(t, res.stdout, `ResourceGraphDefinition "lists-range" is valid`)
	}
}

// TestControllerStrictCostFlag checks the controller's flag and its
// default (warn, as kro accepts such RGDs).
func TestControllerStrictCostFlag(t *testing.T) {
	cmd := newControllerCommand()
	strict, err := cmd.Flags().GetBool("strict-cost-estimate")
	require.NoError(t, err)
	assert.False(t, strict)
	require.NoError(t, cmd.ParseFlags([]string{"--strict-cost-estimate"}))
	strict, err = cmd.Flags().GetBool("strict-cost-estimate")
	require.NoError(t, err)
	assert.True(t, strict)
}
