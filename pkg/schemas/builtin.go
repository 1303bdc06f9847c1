package schemas

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/rgd-dev/rgd/pkg/schemas/builtin"
)

// builtinCacheSize bounds how many built-in group-versions stay decoded.
const builtinCacheSize = 16

// objectMetaComponent is the OpenAPI component name of ObjectMeta.
const objectMetaComponent = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

// CaptureResolver resolves kinds from a capture of built-in group-versions
// (see package builtin). Group-versions are decoded on first use and at most
// a few are kept decoded at once.
type CaptureResolver struct {
	src   *builtin.Source
	cache *gvCache
}

var embeddedResolver = sync.OnceValues(func() (*CaptureResolver, error) {
	src, err := builtin.Embedded()
	if err != nil {
		return nil, fmt.Errorf("embedded built-in schemas: %w", err)
	}
	return newCaptureResolver(src), nil
})

// Builtin returns the resolver of the built-in kinds of Kubernetes embedded
// in the binary. It works offline. The data is decoded lazily, per
// group-version.
func Builtin() Resolver {
	r, err := embeddedResolver()
	if err != nil {
		return ResolverFunc(func(context.Context, schema.GroupVersionKind) (*Resolved, error) { return nil, err })
	}
	return r
}

// BuiltinKubernetesVersion is the Kubernetes version the embedded schemas
// were captured from, e.g. "v1.37.2".
func BuiltinKubernetesVersion() (string, error) {
	r, err := embeddedResolver()
	if err != nil {
		return "", err
	}
	return r.src.Manifest().KubernetesVersion, nil
}

// FromCapture returns a resolver over a capture laid out like package
// builtin's data directory (manifest.json and one gzip file per
// group-version), e.g. os.DirFS of hack/capture-openapi's output.
func FromCapture(fsys fs.FS) (*CaptureResolver, error) {
	src, err := builtin.Open(fsys)
	if err != nil {
		return nil, err
	}
	return newCaptureResolver(src), nil
}

func newCaptureResolver(src *builtin.Source) *CaptureResolver {
	r := &CaptureResolver{src: src}
	r.cache = newGVCache(builtinCacheSize, func(_ context.Context, gv schema.GroupVersion) (*gvDocument, error) {
		return loadCaptured(src, gv)
	})
	return r
}

func loadCaptured(src *builtin.Source, gv schema.GroupVersion) (*gvDocument, error) {
	d, err := src.Load(gv)
	if err != nil {
		return nil, err
	}
	mappings := make(map[string]restMapping, len(d.Resources))
	for _, res := range d.Resources {
		if _, dup := mappings[res.Kind]; !dup {
			mappings[res.Kind] = restMapping{resource: res.Name, namespaced: res.Namespaced}
		}
	}
	return newGVDocument(gv, d.OpenAPI, mappings)
}

// Resolve implements Resolver.
func (r *CaptureResolver) Resolve(ctx context.Context, gvk schema.GroupVersionKind) (*Resolved, error) {
	gv := gvk.GroupVersion()
	if !r.src.Has(gv) {
		return nil, notFound(gvk)
	}
	d, err := r.cache.get(ctx, gv)
	if err != nil {
		return nil, err
	}
	return d.resolve(gvk.Kind)
}

// KubernetesVersion is the Kubernetes version the capture came from.
func (r *CaptureResolver) KubernetesVersion() string { return r.src.Manifest().KubernetesVersion }

// GroupVersions lists the captured group-versions.
func (r *CaptureResolver) GroupVersions() []schema.GroupVersion {
	m := r.src.Manifest()
	out := make([]schema.GroupVersion, 0, len(m.GroupVersions))
	for _, e := range m.GroupVersions {
		gv, err := schema.ParseGroupVersion(e.GroupVersion)
		if err == nil {
			out = append(out, gv)
		}
	}
	return out
}

// objectMetaSchema is the full ObjectMeta schema, taken once from the
// embedded core/v1 document and shared (read-only).
var objectMetaSchema = sync.OnceValues(func() (*spec.Schema, error) {
	src, err := builtin.Embedded()
	if err != nil {
		return nil, fmt.Errorf("embedded built-in schemas: %w", err)
	}
	core := schema.GroupVersion{Version: "v1"}
	d, err := src.Load(core)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("ObjectMeta schema: the embedded data has no core v1 group-version")
		}
		return nil, fmt.Errorf("ObjectMeta schema: %w", err)
	}
	doc, err := newGVDocument(core, d.OpenAPI, nil)
	if err != nil {
		return nil, err
	}
	s, err := resolver.PopulateRefs(func(ref string) (*spec.Schema, bool) {
		c, ok := doc.components[trimComponentsPrefix(ref)]
		return c, ok
	}, componentsPrefix+objectMetaComponent)
	if err != nil {
		return nil, fmt.Errorf("ObjectMeta schema: %w", err)
	}
	return s, nil
})

func trimComponentsPrefix(ref string) string {
	if len(ref) > len(componentsPrefix) && ref[:len(componentsPrefix)] == componentsPrefix {
		return ref[len(componentsPrefix):]
	}
	return ref
}
