// Command capture-openapi captures the OpenAPI v3 documents and REST mappings
// of every built-in group-version of Kubernetes from a real kube-apiserver and
// writes them, compressed, to pkg/schemas/builtin/data, where package builtin
// embeds them.
//
// By default it starts a local control plane with pkg/devcluster (the binaries
// of hack/control-plane.sh are needed) and stops it when done:
//
//	go run ./hack/capture-openapi
//
// Flags:
//
//	-out DIR          where to write (default pkg/schemas/builtin/data)
//	-kubeconfig FILE  capture from this cluster instead of starting one
//	                  (it must serve only built-in APIs: no CRDs, no aggregated APIs)
//	-descriptions     keep schema descriptions (about 8 times larger data)
//	-kubernetes-version V
//	                  version to record when the server's /version is not
//	                  stamped (binaries built with go build report
//	                  v0.0.0-master); its major.minor must match the server's
//	                  (default: devcluster.KubernetesVersion)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rgd-dev/rgd/pkg/devcluster"
	"github.com/rgd-dev/rgd/pkg/schemas"
	"github.com/rgd-dev/rgd/pkg/schemas/builtin"
)

func main() {
	out := flag.String("out", filepath.Join("pkg", "schemas", "builtin", "data"), "output directory")
	kubeconfig := flag.String("kubeconfig", "", "capture from this cluster instead of starting a local control plane")
	descriptions := flag.Bool("descriptions", false, "keep schema descriptions")
	k8sVersion := flag.String("kubernetes-version", devcluster.KubernetesVersion, "version to record when the server's /version is not stamped")
	flag.Parse()
	if err := run(*out, *kubeconfig, *k8sVersion, *descriptions); err != nil {
		fmt.Fprintln(os.Stderr, "capture-openapi:", err)
		os.Exit(1)
	}
}

func run(out, kubeconfig, k8sVersion string, descriptions bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	var cfg *rest.Config
	if kubeconfig != "" {
		c, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return err
		}
		cfg = c
	} else {
		cluster, err := devcluster.Start(ctx, devcluster.Options{Log: os.Stderr})
		if err != nil {
			return fmt.Errorf("starting the control plane: %w", err)
		}
		defer func() {
			if err := cluster.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "capture-openapi: stopping the control plane:", err)
			}
		}()
		cfg = cluster.RESTConfig()
	}
	return capture(cfg, out, k8sVersion, descriptions)
}

// gvPath matches the OpenAPI v3 discovery paths of group-versions:
// "api/v1" and "apis/<group>/<version>".
var gvPath = regexp.MustCompile(`^(?:api/([^/]+)|apis/([^/]+)/([^/]+))$`)

func capture(cfg *rest.Config, out, k8sVersion string, descriptions bool) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	info, err := dc.ServerVersion()
	if err != nil {
		return fmt.Errorf("reading /version: %w", err)
	}
	recorded, err := recordedVersion(info, k8sVersion)
	if err != nil {
		return err
	}
	paths, err := dc.OpenAPIV3().Paths()
	if err != nil {
		return fmt.Errorf("reading /openapi/v3: %w", err)
	}
	keys := make([]string, 0, len(paths))
	for k := range paths {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	manifest := &builtin.Manifest{KubernetesVersion: recorded, Descriptions: descriptions}
	files := map[string][]byte{}
	total := 0
	for _, k := range keys {
		m := gvPath.FindStringSubmatch(k)
		if m == nil {
			continue
		}
		gv := schema.GroupVersion{Version: m[1]}
		if m[1] == "" {
			gv = schema.GroupVersion{Group: m[2], Version: m[3]}
		}
		doc, err := paths[k].Schema("application/json")
		if err != nil {
			return fmt.Errorf("reading /openapi/v3/%s: %w", k, err)
		}
		reduced, err := builtin.ReduceOpenAPI(doc, descriptions)
		if err != nil {
			return fmt.Errorf("/openapi/v3/%s: %w", k, err)
		}
		list, err := dc.ServerResourcesForGroupVersion(gv.String())
		if err != nil {
			return fmt.Errorf("discovery of %s: %w", gv, err)
		}
		data := &builtin.GroupVersionData{GroupVersion: gv.String(), OpenAPI: reduced}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") {
				continue // subresource
			}
			data.Resources = append(data.Resources, builtin.Resource{Name: r.Name, Kind: r.Kind, Namespaced: r.Namespaced})
		}
		gz, err := builtin.Encode(data)
		if err != nil {
			return err
		}
		name := builtin.FileName(gv)
		files[name] = gz
		total += len(gz)
		manifest.GroupVersions = append(manifest.GroupVersions, builtin.ManifestEntry{GroupVersion: gv.String(), File: name})
		fmt.Fprintf(os.Stderr, "capture-openapi: %-45s %3d resources %7d bytes\n", gv, len(data.Resources), len(gz))
	}
	if len(manifest.GroupVersions) == 0 {
		return fmt.Errorf("the server listed no group-versions under /openapi/v3")
	}
	mraw, err := builtin.EncodeManifest(manifest)
	if err != nil {
		return err
	}
	if err := writeDir(out, files, mraw); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "capture-openapi: Kubernetes %s, %d group-versions, %d bytes compressed, written to %s\n",
		recorded, len(files), total, out)
	return verify(out)
}

// writeDir replaces the capture in dir: stale group-version files are removed.
func writeDir(dir string, files map[string][]byte, manifest []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.json.gz"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if _, keep := files[filepath.Base(f)]; !keep {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, builtin.ManifestFile), manifest, 0o644)
}

// verify reads the capture back the way rgd will and resolves a few kinds.
func verify(dir string) error {
	r, err := schemas.FromCapture(os.DirFS(dir))
	if err != nil {
		return fmt.Errorf("verifying %s: %w", dir, err)
	}
	for _, gvk := range []schema.GroupVersionKind{
		{Version: "v1", Kind: "ConfigMap"},
		{Group: "apps", Version: "v1", Kind: "Deployment"},
	} {
		if _, err := r.Resolve(context.Background(), gvk); err != nil {
			return fmt.Errorf("verifying %s: %w", dir, err)
		}
	}
	return nil
}

// recordedVersion is the version written to the manifest: the server's
// gitVersion when it is stamped, else fallback, whose major.minor must be the
// server's.
func recordedVersion(v *version.Info, fallback string) (string, error) {
	if !strings.HasPrefix(v.GitVersion, "v0.0.0") && v.GitVersion != "" {
		return v.GitVersion, nil
	}
	want := "v" + v.Major + "." + strings.TrimSuffix(v.Minor, "+") + "."
	if !strings.HasPrefix(fallback, want) {
		return "", fmt.Errorf("the server reports no version (%q) and Kubernetes %s.%s, which does not match -kubernetes-version %q",
			v.GitVersion, v.Major, v.Minor, fallback)
	}
	return fallback, nil
}
