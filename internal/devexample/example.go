package devexample

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gobuffalo/flect"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/rgd-dev/rgd/pkg/apis/kro/v1alpha1"
	"github.com/rgd-dev/rgd/pkg/manifest"
)

// Set is an example folder's documents, sorted by when they are applied.
type Set struct {
	// Dir is the folder the documents were read from.
	Dir string
	// CRDs are the CustomResourceDefinitions: applied first.
	CRDs []manifest.Document
	// Prerequisites are the documents that are neither CRDs, RGDs nor
	// instances.
	Prerequisites []manifest.Document
	// RGDs are the ResourceGraphDefinitions.
	RGDs []manifest.Document
	// Instances are the objects of a kind one of the RGDs defines: applied
	// last, they need the engine.
	Instances []manifest.Document
	// Kinds are the instance kinds as resource.group (such as
	// cartsstacks.kro.run), sorted, for `kubectl get` hints.
	Kinds []string
}

// Find resolves an example folder: as given (relative to the working
// directory), else relative to the nearest parent directory that has it, so
// that `rgd dev` works from anywhere inside the repository.
func Find(path string) (string, error) {
	if filepath.IsAbs(path) {
		return checkDir(path)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if found, err := checkDir(filepath.Join(dir, path)); err == nil {
			return found, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no such folder (looked in %s and its parents)", wd)
		}
	}
}

func checkDir(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !info.IsDir() {
		return "", fmt.Errorf("%s is not a folder", path)
	}
	return path, nil
}

// Load reads every *.yaml, *.yml and *.json file of dir (not sub folders)
// and sorts their documents. It reports every document that is not a named
// Kubernetes object, and every RGD without spec.schema.kind, at once.
func Load(dir string) (*Set, error) {
	docs, err := readDir(dir)
	if err != nil {
		return nil, err
	}
	instanceKinds, errs := rgdKinds(docs)
	set := &Set{Dir: dir}
	for _, d := range docs {
		gvk := d.Object.GroupVersionKind()
		switch {
		case gvk.Kind == "" || d.Object.GetName() == "":
			errs = append(errs, fmt.Errorf("%s: expected a Kubernetes object with apiVersion, kind and metadata.name", d.Source))
		case gvk.Group == extv1.GroupName && gvk.Kind == "CustomResourceDefinition":
			set.CRDs = append(set.CRDs, d)
		case d.IsRGD():
			set.RGDs = append(set.RGDs, d)
		case instanceKinds[gvk.GroupKind()]:
			set.Instances = append(set.Instances, d)
		default:
			set.Prerequisites = append(set.Prerequisites, d)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for gk := range instanceKinds {
		set.Kinds = append(set.Kinds, flect.Pluralize(strings.ToLower(gk.Kind))+"."+gk.Group)
	}
	sort.Strings(set.Kinds)
	return set, nil
}

// readDir reads the documents of dir's manifest files, in file name order.
func readDir(dir string) ([]manifest.Document, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var docs []manifest.Document
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
			continue
		}
		d, err := manifest.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
	return docs, nil
}

// rgdKinds returns the kinds the RGDs among docs define, and an error for
// each RGD that names none.
func rgdKinds(docs []manifest.Document) (map[schema.GroupKind]bool, []error) {
	kinds := map[schema.GroupKind]bool{}
	var errs []error
	for _, d := range docs {
		if !d.IsRGD() {
			continue
		}
		kind, _, _ := unstructured.NestedString(d.Object.Object, "spec", "schema", "kind")
		group, _, _ := unstructured.NestedString(d.Object.Object, "spec", "schema", "group")
		if group == "" {
			group = v1alpha1.GroupName
		}
		if kind == "" {
			errs = append(errs, fmt.Errorf("%s: spec.schema.kind: Required value", d.Source))
			continue
		}
		kinds[schema.GroupKind{Group: group, Kind: kind}] = true
	}
	return kinds, errs
}
