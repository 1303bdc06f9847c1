package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The CLI tests run rgd as a subprocess, so that exit codes, stdout and
// stderr are observed exactly as a user sees them. The subprocess is this
// test binary itself: when cliEnv is set, TestMain hands its arguments to
// run() instead of running the tests. That needs no `go build`, and the
// child carries the race detector and coverage of the parent.

// cliEnv makes the test binary behave as the rgd command.
const cliEnv = "RGD_CLI_TEST_RUN_AS_RGD"

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestMain(m *testing.M) {
	if os.Getenv(cliEnv) == "1" {
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// result is what one rgd invocation produced.
type result struct {
	code   int
	stdout string
	stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// repoRoot is the module root; every rgd invocation runs there so that the
// paths it prints are relative and the golden files stable.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.mod"), "the tests expect to run in cmd/rgd")
	return root
}

// rgd runs the command with args in the repository root.
func rgd(t *testing.T, args ...string) result {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self, args...)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), cliEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	default:
		require.NoError(t, err, "starting rgd %s", strings.Join(args, " "))
	}
	return res
}

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "golden file missing; run go test ./cmd/rgd -run %s -update", t.Name())
	assert.Equal(t, string(want), got, "%s differs; if the change is intended, run go test ./cmd/rgd -run %s -update", path, t.Name())
}

// example is one directory under examples/, with paths relative to the
// repository root.
type example struct {
	name     string
	rgd      string
	instance string
	crds     []string // every *-crd.yaml beside the RGD
}

// crdFlags returns --crd FILE for each CRD the example needs.
func (e example) crdFlags() []string {
	var out []string
	for _, c := range e.crds {
		out = append(out, "--crd", c)
	}
	return out
}

// examples lists every examples/*/rgd.yaml; each must have an instance.
func examples(t *testing.T) []example {
	t.Helper()
	root := repoRoot(t)
	rgds, err := filepath.Glob(filepath.Join(root, "examples", "*", "rgd.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(rgds), 4, "examples/cartsstack, externalref, foreach and includewhen at least")
	var out []example
	for _, p := range rgds {
		dir := filepath.Dir(p)
		name := filepath.Base(dir)
		rel := func(p string) string {
			r, err := filepath.Rel(root, p)
			require.NoError(t, err)
			return filepath.ToSlash(r)
		}
		crds, err := filepath.Glob(filepath.Join(dir, "*-crd.yaml"))
		require.NoError(t, err)
		e := example{name: name, rgd: rel(p), instance: rel(filepath.Join(dir, "instance.yaml"))}
		for _, c := range crds {
			e.crds = append(e.crds, rel(c))
		}
		require.FileExists(t, filepath.Join(root, e.instance), "example %s needs an instance", name)
		out = append(out, e)
	}
	return out
}

func TestValidateExamples(t *testing.T) {
	for _, e := range examples(t) {
		t.Run(e.name, func(t *testing.T) {
			args := append([]string{"validate"}, e.crdFlags()...)
			res := rgd(t, append(args, e.rgd)...)
			require.Equal(t, 0, res.code, "%s", res)
			assert.Empty(t, res.stderr)
			assert.Regexp(t, `^`+e.rgd+`: ResourceGraphDefinition "[a-z0-9.-]+" is valid: kind [A-Z]\w*, \d+ resources in order \w+`, res.stdout)
			assert.Equal(t, 1, strings.Count(res.stdout, "\n"), "one line per valid RGD")
		})
	}
}

// invalidRGDs are files of pkg/graph's table of invalid RGDs that need no CRD
// beyond the built-in kinds; the .err beside each holds its exact errors.
var invalidRGDs = []string{
	"bad-kind",
	"cel-syntax-error",
	"dependency-cycle",
	"expression-type-mismatch",
	"foreach-not-list",
	"several-problems-at-once",
}

// invalidRGD returns the path of an invalid RGD and the stderr lines rgd
// validate must print for it.
func invalidRGD(t *testing.T, name string) (string, []string) {
	t.Helper()
	path := "pkg/graph/testdata/invalid/" + name + ".yaml"
	want, err := os.ReadFile(filepath.Join(repoRoot(t), "pkg", "graph", "testdata", "invalid", name+".err"))
	require.NoError(t, err)
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(want), "\n"), "\n") {
		lines = append(lines, path+": "+l)
	}
	return path, lines
}

func TestValidateInvalid(t *testing.T) {
	for _, name := range invalidRGDs {
		t.Run(name, func(t *testing.T) {
			path, lines := invalidRGD(t, name)
			res := rgd(t, "validate", path)
			require.Equal(t, 1, res.code, "%s", res)
			assert.Empty(t, res.stdout)
			want := strings.Join(lines, "\n") + fmt.Sprintf("\nrgd: %d problem(s) found\n", len(lines))
			assert.Equal(t, want, res.stderr, "every error, one a line, then the count")
		})
	}
}

func TestValidateSeveralFiles(t *testing.T) {
	cycle, cycleLines := invalidRGD(t, "dependency-cycle")
	several, severalLines := invalidRGD(t, "several-problems-at-once")
	res := rgd(t, "validate", cycle, "examples/foreach/rgd.yaml", several, "examples/includewhen/rgd.yaml")
	require.Equal(t, 1, res.code, "%s", res)

	assert.Contains(t, res.stdout, `examples/foreach/rgd.yaml: ResourceGraphDefinition "tenantconfigs" is valid`)
	assert.Contains(t, res.stdout, `examples/includewhen/rgd.yaml: ResourceGraphDefinition "webapp" is valid`)
	assert.Equal(t, 2, strings.Count(res.stdout, "\n"), "one line per valid RGD")

	want := append(append([]string{}, cycleLines...), severalLines...)
	want = append(want, fmt.Sprintf("rgd: %d problem(s) found", len(want)))
	assert.Equal(t, strings.Join(want, "\n")+"\n", res.stderr, "the problems of every file, in the order of the files")

	t.Run("all valid", func(t *testing.T) {
		res := rgd(t, "validate", "examples/foreach/rgd.yaml", "examples/includewhen/rgd.yaml", "examples/externalref/rgd.yaml")
		require.Equal(t, 0, res.code, "%s", res)
		assert.Empty(t, res.stderr)
		assert.Equal(t, 3, strings.Count(res.stdout, " is valid: "))
	})
}

func TestValidateFileWithoutRGD(t *testing.T) {
	res := rgd(t, "validate", "examples/externalref/existing-configmap.yaml")
	require.Equal(t, 1, res.code, "%s", res)
	assert.Empty(t, res.stdout)
	assert.Equal(t, "examples/externalref/existing-configmap.yaml: no ResourceGraphDefinition in the file\nrgd: 1 problem(s) found\n", res.stderr)
}

func TestValidateNeedsTheCRDOfACustomKind(t *testing.T) {
	res := rgd(t, "validate", "examples/cartsstack/rgd.yaml")
	require.Equal(t, 1, res.code, "%s", res)
	assert.Contains(t, res.stderr, `examples/cartsstack/rgd.yaml: rgd "cartsstack": resource "table": spec.resources[1].template.kind: unknown kind Table`)
	assert.Contains(t, res.stderr, "--crd FILE")
}

// TestUsageErrors checks that every usage problem exits 2 with a message on
// stderr and nothing on stdout.
func TestUsageErrors(t *testing.T) {
	cases := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"validate missing file", []string{"validate", "examples/nope/rgd.yaml"}, "examples/nope/rgd.yaml"},
		{"validate missing file among valid ones", []string{"validate", "examples/foreach/rgd.yaml", "nope.yaml"}, "nope.yaml"},
		{"validate unknown flag", []string{"validate", "--bogus", "examples/foreach/rgd.yaml"}, "unknown flag: --bogus"},
		{"validate no arguments", []string{"validate"}, "requires at least 1 arg"},
		{"validate missing --crd file", []string{"validate", "--crd", "nope-crd.yaml", "examples/foreach/rgd.yaml"}, "--crd nope-crd.yaml"},
		{"crd no arguments", []string{"crd"}, "accepts 1 arg"},
		{"crd missing file", []string{"crd", "nope.yaml"}, "nope.yaml"},
		{"graph bad format", []string{"graph", "--format", "png", "examples/foreach/rgd.yaml"}, `--format "png": expected dot or mermaid`},
		{"graph unknown flag", []string{"graph", "--colour", "examples/foreach/rgd.yaml"}, "unknown flag: --colour"},
		{"render without --instance", []string{"render", "examples/foreach/rgd.yaml"}, "--instance FILE is required"},
		{"render missing instance file", []string{"render", "examples/foreach/rgd.yaml", "--instance", "nope.yaml"}, "nope.yaml"},
		{"render missing --crd file", []string{"render", "examples/cartsstack/rgd.yaml", "--crd", "nope-crd.yaml", "--instance", "examples/cartsstack/instance.yaml"}, "--crd nope-crd.yaml"},
		{"version with an argument", []string{"version", "extra"}, "unknown command"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := rgd(t, c.args...)
			assert.Equal(t, 2, res.code, "%s", res)
			assert.Empty(t, res.stdout)
			assert.True(t, strings.HasPrefix(res.stderr, "rgd: "), "stderr starts with rgd: %q", res.stderr)
			assert.Contains(t, res.stderr, c.stderr)
		})
	}
}

func TestCRD(t *testing.T) {
	for _, e := range examples(t) {
		t.Run(e.name, func(t *testing.T) {
			args := append([]string{"crd"}, e.crdFlags()...)
			res := rgd(t, append(args, e.rgd)...)
			require.Equal(t, 0, res.code, "%s", res)
			assert.Empty(t, res.stderr)
			assert.True(t, strings.HasPrefix(res.stdout, "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"), "a complete CRD manifest")
			golden(t, filepath.Join(e.name, "crd.yaml"), res.stdout)
		})
	}
	t.Run("invalid RGD", func(t *testing.T) {
		path, lines := invalidRGD(t, "several-problems-at-once")
		res := rgd(t, "crd", path)
		require.Equal(t, 1, res.code, "%s", res)
		assert.Empty(t, res.stdout)
		for _, l := range lines {
			assert.Contains(t, res.stderr, l)
		}
	})
	t.Run("file with two RGDs", func(t *testing.T) {
		two := filepath.Join(t.TempDir(), "two.yaml")
		var b strings.Builder
		for _, p := range []string{"examples/foreach/rgd.yaml", "examples/includewhen/rgd.yaml"} {
			data, err := os.ReadFile(filepath.Join(repoRoot(t), p))
			require.NoError(t, err)
			b.WriteString("---\n")
			b.Write(data)
		}
		require.NoError(t, os.WriteFile(two, []byte(b.String()), 0o644))
		res := rgd(t, "crd", two)
		require.Equal(t, 2, res.code, "%s", res)
		assert.Contains(t, res.stderr, "holds 2 ResourceGraphDefinitions")
	})
}

func TestGraph(t *testing.T) {
	formats := []struct{ format, ext string }{{"dot", "dot"}, {"mermaid", "mmd"}}
	for _, e := range examples(t) {
		for _, f := range formats {
			t.Run(e.name+"/"+f.format, func(t *testing.T) {
				args := append([]string{"graph", "--format", f.format}, e.crdFlags()...)
				res := rgd(t, append(args, e.rgd)...)
				require.Equal(t, 0, res.code, "%s", res)
				assert.Empty(t, res.stderr)
				golden(t, filepath.Join(e.name, "graph."+f.ext), res.stdout)
			})
		}
	}
	t.Run("dot is the default", func(t *testing.T) {
		dflt := rgd(t, "graph", "examples/includewhen/rgd.yaml")
		dot := rgd(t, "graph", "--format", "dot", "examples/includewhen/rgd.yaml")
		require.Equal(t, 0, dflt.code, "%s", dflt)
		assert.Equal(t, dot.stdout, dflt.stdout)
		assert.True(t, strings.HasPrefix(dflt.stdout, "digraph "))
	})
}

func TestRender(t *testing.T) {
	for _, e := range examples(t) {
		t.Run(e.name, func(t *testing.T) {
			args := append([]string{"render", e.rgd, "--instance", e.instance}, e.crdFlags()...)
			res := rgd(t, args...)
			require.Equal(t, 0, res.code, "%s", res)
			assert.Empty(t, res.stderr)
			assert.True(t, strings.HasPrefix(res.stdout, "# instance "), "the defaulted instance comes first")
			golden(t, filepath.Join(e.name, "render.yaml"), res.stdout)
		})
	}
	t.Run("instance of the wrong kind", func(t *testing.T) {
		res := rgd(t, "render", "examples/foreach/rgd.yaml", "--instance", "examples/includewhen/instance.yaml")
		require.Equal(t, 1, res.code, "%s", res)
		assert.Empty(t, res.stdout)
		assert.Contains(t, res.stderr, "examples/includewhen/instance.yaml: the instance is a kro.run/v1alpha1, Kind=WebApp, the RGD defines kro.run/v1alpha1, Kind=TenantConfigs")
	})
	t.Run("invalid RGD", func(t *testing.T) {
		path, lines := invalidRGD(t, "dependency-cycle")
		res := rgd(t, "render", path, "--instance", "examples/foreach/instance.yaml")
		require.Equal(t, 1, res.code, "%s", res)
		assert.Empty(t, res.stdout)
		assert.Contains(t, res.stderr, lines[0])
	})
}

func TestVersion(t *testing.T) {
	res := rgd(t, "version")
	require.Equal(t, 0, res.code, "%s", res)
	assert.Empty(t, res.stderr)
	assert.Regexp(t, `^rgd \S+`, res.stdout)
	assert.Equal(t, 1, strings.Count(res.stdout, "\n"), "a single line")
}
