package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	release "helm.sh/helm/v4/pkg/release/v1"
	"sigs.k8s.io/yaml"
)

// Where things are, relative to the repository's root.
const (
	// chartDir is the chart.
	chartDir = "charts/rgd"
	// crdSource is the CRD `make generate` writes; the chart carries a copy
	// of it in crdCopy.
	crdSource = "crds/kro.run_resourcegraphdefinitions.yaml"
	crdCopy   = chartDir + "/crds/kro.run_resourcegraphdefinitions.yaml"
)

// The release every rendering is: the names deploy/ has always had.
const (
	releaseName      = "rgd"
	releaseNamespace = "rgd-system"
)

// rendering is one file rendered from the chart: the chart's values
// overridden by each values file in turn, as `helm template -f A -f B`.
type rendering struct {
	// Out is the file written, relative to the root.
	Out string
	// Values are the values files, relative to the root.
	Values []string
}

// renderings are the files rendered from the chart.
var renderings = []rendering{
	// What `kubectl apply -k deploy/` installs: the chart's defaults and the
	// namespace.
	{Out: "deploy/rgd.yaml", Values: []string{"deploy/values.yaml"}},
	// The least-privilege mode.
	{Out: "deploy/impersonation/rgd.yaml", Values: []string{"deploy/values.yaml", "deploy/impersonation/values.yaml"}},
	// The children's RBAC narrowed to a few kinds, for deploy's tests.
	{Out: "deploy/testdata/narrow-children.yaml", Values: []string{"deploy/values.yaml", "deploy/testdata/narrow-children-values.yaml"}},
}

// header is the comment at the top of a rendering.
func header(r rendering) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Generated from %s by `make manifests` (hack/chart): do not edit.\n", chartDir)
	fmt.Fprintf(&b, "# helm template %s %s --namespace %s --include-crds", releaseName, chartDir, releaseNamespace)
	for _, v := range r.Values {
		fmt.Fprintf(&b, " -f %s", v)
	}
	b.WriteString("\n")
	return b.String()
}

// loadChart loads the chart under root, with its CRD taken from crds/
// rather than from its copy, so that a rendering never depends on whether
// the copy is up to date.
func loadChart(root string) (*chart.Chart, error) {
	ch, err := loader.LoadDir(filepath.Join(root, chartDir))
	if err != nil {
		return nil, fmt.Errorf("loading the chart %s: %w", chartDir, err)
	}
	crd, err := os.ReadFile(filepath.Join(root, crdSource))
	if err != nil {
		return nil, err
	}
	name := strings.TrimPrefix(crdCopy, chartDir+"/")
	replaced := false
	for _, f := range ch.Files {
		if f.Name == name {
			f.Data, replaced = crd, true
		}
	}
	if !replaced {
		ch.Files = append(ch.Files, &common.File{Name: name, Data: crd})
	}
	return ch, nil
}

// readValues reads the values files under root and merges them in order,
// later files winning, as Helm merges `-f` files.
func readValues(root string, files []string) (map[string]any, error) {
	vals := map[string]any{}
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return nil, err
		}
		next := map[string]any{}
		if err := yaml.Unmarshal(raw, &next); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		vals = loader.MergeMaps(vals, next)
	}
	return vals, nil
}

// render renders ch with vals as release name in releaseNamespace, as
// `helm template --include-crds` does: the objects in Helm's install order,
// each under a "# Source:" comment.
func render(ctx context.Context, ch *chart.Chart, vals map[string]any, name string) (string, error) {
	install := action.NewInstall(action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler)))
	install.DryRunStrategy = action.DryRunClient
	install.ReleaseName = name
	install.Namespace = releaseNamespace
	install.Replace = true
	install.IncludeCRDs = true
	rel, err := install.RunWithContext(ctx, ch, vals)
	if err != nil {
		return "", fmt.Errorf("rendering the chart: %w", err)
	}
	r, ok := rel.(*release.Release)
	if !ok {
		return "", fmt.Errorf("rendering the chart: a release of type %T, expected *release.Release", rel)
	}
	if len(r.Hooks) > 0 {
		return "", fmt.Errorf("rendering the chart: %d hooks; the chart must have none, kubectl would not run them", len(r.Hooks))
	}
	return strings.TrimSpace(r.Manifest) + "\n", nil
}

// generate returns every file generated from the chart under root, by path
// relative to root (with slashes).
func generate(ctx context.Context, root string) (map[string][]byte, error) {
	crd, err := os.ReadFile(filepath.Join(root, crdSource))
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{crdCopy: crd}
	for _, r := range renderings {
		ch, err := loadChart(root)
		if err != nil {
			return nil, err
		}
		vals, err := readValues(root, r.Values)
		if err != nil {
			return nil, err
		}
		manifest, err := render(ctx, ch, vals, releaseName)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Out, err)
		}
		out[r.Out] = []byte(header(r) + manifest)
	}
	return out, nil
}

// write writes the generated files under root.
func write(root string, files map[string][]byte) error {
	for name, data := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// errStale is check's error when a generated file differs from what the
// chart renders.
var errStale = errors.New("stale")

// check compares the generated files with those under root and returns
// errStale naming each that is missing or differs.
func check(root string, files map[string][]byte) error {
	var stale []string
	for _, name := range slices.Sorted(maps.Keys(files)) {
		have, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
		switch {
		case errors.Is(err, os.ErrNotExist):
			stale = append(stale, name+" (missing)")
		case err != nil:
			return err
		case !bytes.Equal(have, files[name]):
			stale = append(stale, name+firstDifference(have, files[name]))
		}
	}
	if len(stale) > 0 {
		return fmt.Errorf("%w: %s", errStale, strings.Join(stale, "; "))
	}
	return nil
}

// firstDifference describes the first line where have and want differ.
func firstDifference(have, want []byte) string {
	h, w := strings.Split(string(have), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(h), len(w)); i++ {
		var hl, wl string
		if i < len(h) {
			hl = h[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if hl != wl || i >= len(h) || i >= len(w) {
			return fmt.Sprintf(" (line %d: have %q, want %q)", i+1, hl, wl)
		}
	}
	return ""
}
