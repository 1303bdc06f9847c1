package schemas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// DefaultDiscoveryCacheSize is how many group-versions a Discovery resolver
// keeps when DiscoveryOptions.CacheSize is zero.
const DefaultDiscoveryCacheSize = 64

// DiscoveryOptions configure a Discovery resolver.
type DiscoveryOptions struct {
	// CacheSize is the most group-versions kept parsed at once (least
	// recently used go first); zero means DefaultDiscoveryCacheSize. This
	// bounds memory however many CRDs the cluster has: a group-version is
	// only fetched when one of its kinds is asked for.
	CacheSize int
}

// DiscoveryResolver resolves kinds from a live cluster: the OpenAPI v3
// document (/openapi/v3/...) and the discovery resource list of the kind's
// group-version, fetched on first use. Concurrent misses of one
// group-version share one fetch. Kinds the cluster does not serve are not
// cached, so a CRD that appears later is found; call Invalidate or Reset when
// a CRD changes.
type DiscoveryResolver struct {
	dc    discovery.DiscoveryInterfaceWithContext
	cache *gvCache
}

// Discovery returns a resolver that asks the cluster of cfg.
func Discovery(cfg *rest.Config, opts DiscoveryOptions) (*DiscoveryResolver, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	return NewDiscoveryResolver(dc, opts), nil
}

// NewDiscoveryResolver returns a resolver that asks through dc.
func NewDiscoveryResolver(dc discovery.DiscoveryInterfaceWithContext, opts DiscoveryOptions) *DiscoveryResolver {
	size := opts.CacheSize
	if size <= 0 {
		size = DefaultDiscoveryCacheSize
	}
	r := &DiscoveryResolver{dc: dc}
	r.cache = newGVCache(size, r.load)
	return r
}

// Resolve implements Resolver.
func (r *DiscoveryResolver) Resolve(ctx context.Context, gvk schema.GroupVersionKind) (*Resolved, error) {
	d, err := r.cache.get(ctx, gvk.GroupVersion())
	if err != nil {
		var gvErr *gvNotServedError
		if errors.As(err, &gvErr) {
			return nil, &notFoundError{gvk: gvk, detail: gvErr.Error()}
		}
		return nil, err
	}
	return d.resolve(gvk.Kind)
}

// Invalidate forgets one group-version, e.g. after its CRD changed.
func (r *DiscoveryResolver) Invalidate(gv schema.GroupVersion) { r.cache.invalidate(gv) }

// Reset forgets every group-version.
func (r *DiscoveryResolver) Reset() { r.cache.reset() }

// CachedGroupVersions is the number of group-versions held now.
func (r *DiscoveryResolver) CachedGroupVersions() int { return r.cache.len() }

// gvNotServedError says the cluster does not serve a group-version.
type gvNotServedError struct {
	gv     schema.GroupVersion
	reason string
}

func (e *gvNotServedError) Error() string {
	return "the cluster does not serve " + e.gv.String() + " (" + e.reason + ")"
}

func (e *gvNotServedError) Unwrap() error { return ErrNotFound }

// openAPIPath is the key of a group-version under /openapi/v3.
func openAPIPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

func (r *DiscoveryResolver) load(ctx context.Context, gv schema.GroupVersion) (*gvDocument, error) {
	list, err := r.dc.ServerResourcesForGroupVersionWithContext(ctx, gv.String())
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &gvNotServedError{gv: gv, reason: "no discovery document"}
		}
		return nil, fmt.Errorf("discovery of %s: %w", gv, err)
	}
	mappings := map[string]restMapping{}
	for _, res := range list.APIResources {
		if strings.Contains(res.Name, "/") {
			continue // subresource
		}
		if _, dup := mappings[res.Kind]; !dup {
			mappings[res.Kind] = restMapping{resource: res.Name, namespaced: res.Namespaced}
		}
	}
	// The OpenAPI documents are read with the REST client directly, not
	// with client-go's openapi3 client, whose errors lose the API server's
	// message ("unknown"): a failed lookup must say what the server said.
	rc := r.dc.RESTClient()
	index, err := getJSON(ctx, rc, "/openapi/v3")
	if err != nil {
		return nil, fmt.Errorf("OpenAPI v3 discovery: %w", err)
	}
	var paths struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(index, &paths); err != nil {
		return nil, fmt.Errorf("OpenAPI v3 discovery: reading the index: %w", err)
	}
	entry, ok := paths.Paths[openAPIPath(gv)]
	if !ok || entry.ServerRelativeURL == "" {
		return nil, &gvNotServedError{gv: gv, reason: "no OpenAPI v3 document"}
	}
	doc, err := getJSON(ctx, rc, entry.ServerRelativeURL)
	if err != nil {
		return nil, fmt.Errorf("OpenAPI v3 document of %s: %w", gv, err)
	}
	return newGVDocument(gv, doc, mappings)
}

// getJSON GETs a server-relative URL (its query kept) as JSON. A failure
// is the API server's decoded Status, with its message and reason.
func getJSON(ctx context.Context, rc rest.Interface, serverRelativeURL string) ([]byte, error) {
	u, err := url.Parse(serverRelativeURL)
	if err != nil {
		return nil, fmt.Errorf("URL %q: %w", serverRelativeURL, err)
	}
	req := rc.Get().AbsPath(u.Path).SetHeader("Accept", runtime.ContentTypeJSON)
	for k, vs := range u.Query() {
		for _, v := range vs {
			req = req.Param(k, v)
		}
	}
	answer := req.Do(ctx)
	if err := answer.Error(); err != nil {
		return nil, err
	}
	return answer.Raw()
}
