package schemas

import (
	"context"
	"strconv"
	"sync"

	"golang.org/x/sync/singleflight"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/lru"
)

// gvCache keeps parsed group-versions in an LRU bounded by a number of
// group-versions. Concurrent misses of one group-version share one load.
type gvCache struct {
	load func(ctx context.Context, gv schema.GroupVersion) (*gvDocument, error)

	mu    sync.Mutex
	gen   uint64 // bumped by reset; loads started before a reset are not stored
	lru   *lru.Cache
	loads singleflight.Group
}

func newGVCache(size int, load func(context.Context, schema.GroupVersion) (*gvDocument, error)) *gvCache {
	return &gvCache{load: load, lru: lru.New(size)}
}

// get returns the group-version from the cache or loads it. A caller whose
// context ends stops waiting; the load itself goes on for the other callers.
func (c *gvCache) get(ctx context.Context, gv schema.GroupVersion) (*gvDocument, error) {
	key := gv.String()
	c.mu.Lock()
	if v, ok := c.lru.Get(key); ok {
		c.mu.Unlock()
		return v.(*gvDocument), nil
	}
	gen := c.gen
	c.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	flightKey := strconv.FormatUint(gen, 10) + "/" + key
	ch := c.loads.DoChan(flightKey, func() (any, error) {
		d, err := c.load(context.WithoutCancel(ctx), gv)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.gen == gen {
			c.lru.Add(key, d)
		}
		c.mu.Unlock()
		return d, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*gvDocument), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// invalidate drops one group-version.
func (c *gvCache) invalidate(gv schema.GroupVersion) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.lru.Remove(gv.String())
}

// reset drops everything.
func (c *gvCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.lru.Clear()
}

// len is the number of cached group-versions.
func (c *gvCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
