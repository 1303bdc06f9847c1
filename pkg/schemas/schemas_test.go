package schemas

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// fixed is a Resolver that knows some kinds and counts its calls.
type fixed struct {
	name  string
	kinds map[schema.GroupVersionKind]bool
	err   error
	calls int
}

func (f *fixed) Resolve(_ context.Context, gvk schema.GroupVersionKind) (*Resolved, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	if f.kinds[gvk] {
		return &Resolved{GVK: gvk, Resource: schema.GroupVersionResource{Resource: f.name}}, nil
	}
	return nil, notFound(gvk)
}

func TestChainOrder(t *testing.T) {
	a := schema.GroupVersionKind{Group: "a", Version: "v1", Kind: "A"}
	b := schema.GroupVersionKind{Group: "b", Version: "v1", Kind: "B"}
	first := &fixed{name: "first", kinds: map[schema.GroupVersionKind]bool{a: true}}
	second := &fixed{name: "second", kinds: map[schema.GroupVersionKind]bool{a: true, b: true}}
	c := Chain(first, nil, second)
	ctx := context.Background()

	r, err := c.Resolve(ctx, a)
	require.NoError(t, err)
	assert.Equal(t, "first", r.Resource.Resource, "the first resolver that knows the kind wins")
	assert.Equal(t, 0, second.calls)

	r, err = c.Resolve(ctx, b)
	require.NoError(t, err)
	assert.Equal(t, "second", r.Resource.Resource)

	_, err = c.Resolve(ctx, schema.GroupVersionKind{Group: "c", Version: "v1", Kind: "C"})
	require.ErrorIs(t, err, ErrNotFound)
	assert.EqualError(t, err, "kind C of apiVersion c/v1 not found")

	_, err = Chain().Resolve(ctx, a)
	require.ErrorIs(t, err, ErrNotFound)
}

func TestChainStopsOnOtherErrors(t *testing.T) {
	boom := errors.New("connection refused")
	broken := &fixed{err: boom}
	after := &fixed{name: "after", kinds: map[schema.GroupVersionKind]bool{{Kind: "X", Version: "v1"}: true}}
	_, err := Chain(broken, after).Resolve(context.Background(), schema.GroupVersionKind{Kind: "X", Version: "v1"})
	require.ErrorIs(t, err, boom)
	assert.NotErrorIs(t, err, ErrNotFound)
	assert.Equal(t, 0, after.calls)
}

func TestChainOfRealSources(t *testing.T) {
	crds, err := LoadCRDFiles("testdata/table-crd.yaml")
	require.NoError(t, err)
	c := Chain(Builtin(), crds)
	ctx := context.Background()
	tbl, err := c.Resolve(ctx, tableGVK)
	require.NoError(t, err)
	assert.Equal(t, "tables", tbl.Resource.Resource)
	dep, err := c.Resolve(ctx, schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
	require.NoError(t, err)
	assert.Equal(t, "deployments", dep.Resource.Resource)
}

func TestGVCacheDropsLoadsStartedBeforeReset(t *testing.T) {
	gv := schema.GroupVersion{Group: "g", Version: "v1"}
	release := make(chan struct{})
	started := make(chan struct{})
	loads := 0
	var c *gvCache
	c = newGVCache(4, func(context.Context, schema.GroupVersion) (*gvDocument, error) {
		loads++
		if loads == 1 {
			close(started)
			<-release
		}
		return &gvDocument{gv: gv}, nil
	})
	done := make(chan error)
	go func() {
		_, err := c.get(context.Background(), gv)
		done <- err
	}()
	<-started
	c.reset() // the schema changed while it was being fetched
	close(release)
	require.NoError(t, <-done)
	assert.Equal(t, 0, c.len(), "a load started before Reset is not cached")
	_, err := c.get(context.Background(), gv)
	require.NoError(t, err)
	assert.Equal(t, 2, loads)
	assert.Equal(t, 1, c.len())
}
