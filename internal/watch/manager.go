package watch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/lru"
)

// DefaultSyncTimeout is how long Watch waits for an informer's initial list
// when Options.SyncTimeout is zero.
const DefaultSyncTimeout = 60 * time.Second

// ErrStopped is returned by Watch after Stop.
var ErrStopped = errors.New("watch manager stopped")

// Options configure a Manager. The zero value is valid.
type Options struct {
	// ResyncPeriod makes informers replay every cached object as an Updated
	// event this often. 0 (the default) means no periodic resync.
	ResyncPeriod time.Duration
	// Logger receives the informers' logs (watch errors and the like). The
	// zero value leaves them to klog's global logger.
	Logger logr.Logger
	// SyncTimeout is how long Watch waits for the initial list (default
	// DefaultSyncTimeout).
	SyncTimeout time.Duration
	// OnEvent, when set, is called once per event an informer sees (not
	// once per handler), for metrics. It must be fast and must not call
	// back into the Manager.
	OnEvent func(gvr schema.GroupVersionResource, t EventType)
	// Metadata, when set, serves the MetadataOnly informers with the
	// metadata API, so that only metadata crosses the wire. Without it they
	// read full objects and keep only their metadata.
	Metadata metadata.Interface
}

// Key identifies one informer: a GVR and an optional label selector in its
// string form ("" = every object). The selector is normalised (parsed and
// printed again), so "a=b,c" and "c, a = b" name the same informer.
type Key struct {
	GVR      schema.GroupVersionResource
	Selector string
	// MetadataOnly caches only each object's apiVersion and metadata
	// (without managedFields): enough to know what exists, at a fraction of
	// the memory.
	MetadataOnly bool
}

// String returns the GVR, followed by the selector in brackets when set
// and "(metadata)" for a MetadataOnly informer.
func (k Key) String() string {
	s := k.GVR.String()
	if k.Selector != "" {
		s += " [" + k.Selector + "]"
	}
	if k.MetadataOnly {
		s += " (metadata)"
	}
	return s
}

// Manager runs one shared informer per Key and stops it when no owner needs
// it any more. Owners are free-form ids (for example an RGD's UID). All
// methods are safe for concurrent use.
type Manager struct {
	client dynamic.Interface
	opts   Options

	mu        sync.Mutex
	stopped   bool
	informers map[Key]*entry
	running   sync.WaitGroup // one per informer whose Run has not returned
	// selectors maps recently seen selectors to their canonical form,
	// bounded so that selectors no RGD uses any more are forgotten.
	selectors *lru.Cache
}

// entry is one running informer and its owners.
type entry struct {
	key      Key
	informer cache.SharedIndexInformer
	cache    indexerCache
	cancel   context.CancelFunc
	done     chan struct{} // closed when the informer's Run returned
	owners   map[string]cache.ResourceEventHandlerRegistration
	// handlers are each owner's Handler, kept to move the owners to a
	// restarted informer.
	handlers map[string]Handler
	// keep is what the informer keeps of each object (nil: everything).
	keep *fieldTree
	// serving is closed once the entry's informer serves its cache: at
	// once for a new informer, after its initial list for one that
	// replaced an informer keeping less.
	serving chan struct{}

	errMu   sync.Mutex
	lastErr error         // the reflector's last list/watch error
	errCh   chan struct{} // closed (and replaced) on every such error
}

// NewManager returns a Manager that lists and watches through client.
func NewManager(client dynamic.Interface, opts Options) *Manager {
	if opts.SyncTimeout <= 0 {
		opts.SyncTimeout = DefaultSyncTimeout
	}
	return &Manager{client: client, opts: opts, informers: map[Key]*entry{}, selectors: lru.New(selectorMemo)}
}

// selectorMemo bounds the selectors whose canonical form a Manager keeps:
// far more than the few distinct ones the RGDs of a cluster use.
const selectorMemo = 256

// normalize validates key and returns it with its selector in canonical form.
// Canonical forms are remembered: Cache is called on every pass of every
// instance, with the same few selectors.
func (m *Manager) normalize(key Key) (Key, *field.Error) {
	if key.Selector == "" {
		return key, nil
	}
	if canonical, ok := m.selectors.Get(key.Selector); ok {
		key.Selector = canonical.(string)
		return key, nil
	}
	sel, err := labels.Parse(key.Selector)
	if err != nil {
		return key, field.Invalid(field.NewPath("key", "selector"), key.Selector, "expected a label selector: "+err.Error())
	}
	m.selectors.Add(key.Selector, sel.String())
	key.Selector = sel.String()
	return key, nil
}

// Watch makes sure the informer for key runs, registers owner's handler on
// it and blocks until the informer has synced and h has received an Added
// event for every object already in the cache, or until ctx ends or
// Options.SyncTimeout passes. Each owner has at most one handler per key: a
// second Watch by the same owner keeps the first handler (h is ignored) and
// returns the same Cache.
//
// Watch fails fast when the initial list is refused with NotFound (the
// resource type does not exist, for example its CRD is not installed) or
// Forbidden. When Watch returns an error, the registration it made is
// undone, so the caller need not Release.
func (m *Manager) Watch(ctx context.Context, owner string, key Key, h Handler) (Cache, error) {
	return m.WatchFields(ctx, owner, key, nil, h)
}

// WatchFields is Watch for an owner that uses only some fields of each
// object: the paths in fields (lists are transparent: a path applies to
// every item), plus apiVersion, kind and metadata, each with everything
// below it (metadata without managedFields, unless fields holds the path
// ManagedFields). nil fields means every field. The informer caches the union of
// what its owners use. When an owner needs a field the running informer
// drops, a new informer lists everything again keeping the wider set, and
// takes over the cache once it has synced; WatchFields returns after that.
// A MetadataOnly informer ignores fields.
func (m *Manager) WatchFields(ctx context.Context, owner string, key Key, fields [][]string, h Handler) (Cache, error) {
	var errs field.ErrorList
	if owner == "" {
		errs = append(errs, field.Required(field.NewPath("owner"), "expected a non-empty owner id"))
	}
	if key.GVR.Version == "" {
		errs = append(errs, field.Required(field.NewPath("key", "gvr", "version"), "expected an API version"))
	}
	if key.GVR.Resource == "" {
		errs = append(errs, field.Required(field.NewPath("key", "gvr", "resource"), "expected a resource name"))
	}
	key, ferr := m.normalize(key)
	if ferr != nil {
		errs = append(errs, ferr)
	}
	if h == nil {
		errs = append(errs, field.Required(field.NewPath("handler"), "expected a non-nil Handler"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("watch %s: %w", key, errs.ToAggregate())
	}

	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return nil, ErrStopped
	}
	var tree *fieldTree
	if !key.MetadataOnly {
		tree = newFieldTree(fields)
	}
	e := m.informers[key]
	var err error
	switch {
	case e == nil:
		e, err = m.startLocked(key, tree, nil)
	case !e.keep.covers(tree):
		e, err = m.replaceLocked(e, union(e.keep, tree))
	}
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	reg, existed := e.owners[owner]
	if !existed {
		reg, err = e.informer.AddEventHandler(eventHandler(key.GVR, h))
		if err != nil {
			if len(e.owners) == 0 {
				m.stopLocked(e)
			}
			m.mu.Unlock()
			return nil, fmt.Errorf("watch %s: %w", key, err)
		}
		e.owners[owner] = reg
		e.handlers[owner] = h
	}
	m.mu.Unlock()

	for {
		err := m.waitSynced(ctx, e, reg)
		if err == nil {
			break
		}
		// A wider informer may have replaced e while this call waited:
		// the registration moved there, so wait for that one.
		if next, nextReg := m.successor(key, e, owner); errors.Is(err, errInformerStopped) && next != nil {
			e, reg = next, nextReg
			continue
		}
		if !existed {
			m.undo(owner, key)
		}
		return nil, fmt.Errorf("watch %s: %w", key, err)
	}
	if err := m.waitServing(ctx, key, e); err != nil {
		return nil, fmt.Errorf("watch %s: %w", key, err)
	}
	return e.cache, nil
}

// replaceLocked starts an informer for old's key keeping keep, moves old's
// owners to it, and makes it serve old's cache once it has synced; old
// stops then. m.mu is held.
func (m *Manager) replaceLocked(old *entry, keep *fieldTree) (*entry, error) {
	e, err := m.startLocked(old.key, keep, &old.cache)
	if err != nil {
		return nil, err
	}
	for owner, h := range old.handlers {
		reg, err := e.informer.AddEventHandler(eventHandler(old.key.GVR, h))
		if err != nil {
			m.stopLocked(e)
			m.informers[old.key] = old
			return nil, fmt.Errorf("watch %s: %w", old.key, err)
		}
		e.owners[owner], e.handlers[owner] = reg, h
	}
	e.serving = make(chan struct{})
	m.running.Add(1)
	go func() {
		defer m.running.Done()
		synced := cache.WaitForCacheSync(e.done, e.informer.HasSynced)
		m.mu.Lock()
		if synced && m.informers[e.key] == e {
			e.cache.serve(e.informer)
		}
		m.mu.Unlock()
		old.cancel()
		close(e.serving)
	}()
	return e, nil
}

// waitServing waits until the informer of key that e started (or one that
// replaced it since) serves the cache.
func (m *Manager) waitServing(ctx context.Context, key Key, e *entry) error {
	timer := time.NewTimer(m.opts.SyncTimeout)
	defer timer.Stop()
	for e != nil && e.serving != nil {
		select {
		case <-e.serving:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the restarted informer: %w", context.Cause(ctx))
		case <-timer.C:
			return fmt.Errorf("restarted informer not synced after %s", m.opts.SyncTimeout)
		}
		m.mu.Lock()
		next := m.informers[key]
		m.mu.Unlock()
		if next == e {
			return nil
		}
		e = next
	}
	return nil
}

// startLocked creates and starts the informer for key, keeping keep of
// each object. It serves c when c is set, otherwise a new cache. m.mu is
// held.
func (m *Manager) startLocked(key Key, keep *fieldTree, c *indexerCache) (*entry, error) {
	var tweak dynamicinformer.TweakListOptionsFunc
	if key.Selector != "" {
		sel := key.Selector
		tweak = func(o *metav1.ListOptions) { o.LabelSelector = sel }
	}
	var inf cache.SharedIndexInformer
	transform := trimmer(keep)
	switch {
	case key.MetadataOnly && m.opts.Metadata != nil:
		inf = metadatainformer.NewFilteredMetadataInformer(m.opts.Metadata, key.GVR, metav1.NamespaceAll,
			m.opts.ResyncPeriod, indexers(), metadatainformer.TweakListOptionsFunc(tweak)).Informer()
		transform = metadataOnly(key.GVR)
	case key.MetadataOnly:
		inf = dynamicinformer.NewFilteredDynamicInformer(m.client, key.GVR, metav1.NamespaceAll,
			m.opts.ResyncPeriod, indexers(), tweak).Informer()
		transform = metadataOnly(key.GVR)
	default:
		inf = dynamicinformer.NewFilteredDynamicInformer(m.client, key.GVR, metav1.NamespaceAll,
			m.opts.ResyncPeriod, indexers(), tweak).Informer()
	}
	e := &entry{
		key:      key,
		informer: inf,
		done:     make(chan struct{}),
		owners:   map[string]cache.ResourceEventHandlerRegistration{},
		handlers: map[string]Handler{},
		keep:     keep,
		errCh:    make(chan struct{}),
	}
	if c != nil {
		e.cache = *c
	} else {
		e.cache = newIndexerCache(inf)
	}
	if err := inf.SetTransform(transform); err != nil {
		return nil, fmt.Errorf("watch %s: %w", key, err)
	}
	if err := inf.SetWatchErrorHandlerWithContext(e.watchError); err != nil {
		return nil, fmt.Errorf("watch %s: %w", key, err)
	}
	if on := m.opts.OnEvent; on != nil {
		gvr := key.GVR
		if _, err := inf.AddEventHandler(countingHandler(func(t EventType) { on(gvr, t) })); err != nil {
			return nil, fmt.Errorf("watch %s: %w", key, err)
		}
	}

	ctx := context.Background()
	if m.opts.Logger.GetSink() != nil {
		ctx = klog.NewContext(ctx, m.opts.Logger.WithValues("gvr", key.GVR.String(), "selector", key.Selector))
	}
	ctx, e.cancel = context.WithCancel(ctx)
	m.informers[key] = e
	m.running.Add(1)
	go func() {
		defer m.running.Done()
		defer close(e.done)
		inf.RunWithContext(ctx)
	}()
	return e, nil
}

// watchError records the reflector's error, wakes waiting Watch calls and
// logs it as client-go would. The reflector itself backs off and retries.
func (e *entry) watchError(ctx context.Context, r *cache.Reflector, err error) {
	e.errMu.Lock()
	e.lastErr = err
	close(e.errCh)
	e.errCh = make(chan struct{})
	e.errMu.Unlock()
	cache.DefaultWatchErrorHandler(ctx, r, err)
}

func (e *entry) lastError() (error, <-chan struct{}) {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	return e.lastErr, e.errCh
}

// waitSynced waits until reg has synced, or returns why it will not.
func (m *Manager) waitSynced(ctx context.Context, e *entry, reg cache.ResourceEventHandlerRegistration) error {
	timer := time.NewTimer(m.opts.SyncTimeout)
	defer timer.Stop()
	synced := reg.HasSyncedChecker().Done()
	for {
		lastErr, errCh := e.lastError()
		if reg.HasSynced() {
			return nil
		}
		if lastErr != nil && !e.informer.HasSynced() &&
			(apierrors.IsNotFound(lastErr) || apierrors.IsForbidden(lastErr)) {
			return fmt.Errorf("initial list failed: %w", lastErr)
		}
		select {
		case <-synced:
			return nil
		case <-errCh:
			// Look at the new error.
		case <-e.done:
			return errInformerStopped
		case <-ctx.Done():
			return fmt.Errorf("waiting for the initial list: %w", context.Cause(ctx))
		case <-timer.C:
			if lastErr, _ = e.lastError(); lastErr != nil {
				return fmt.Errorf("not synced after %s, last error: %w", m.opts.SyncTimeout, lastErr)
			}
			return fmt.Errorf("not synced after %s", m.opts.SyncTimeout)
		}
	}
}

// errInformerStopped is waitSynced's error when the informer stopped (it
// was released, or replaced by a wider one) before the registration synced.
var errInformerStopped = errors.New("informer stopped before it synced")

// successor returns the informer that now serves key, and owner's
// registration on it, when it is not e and owner is registered there.
func (m *Manager) successor(key Key, e *entry, owner string) (*entry, cache.ResourceEventHandlerRegistration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := m.informers[key]
	if next == nil || next == e {
		return nil, nil
	}
	reg, ok := next.owners[owner]
	if !ok {
		return nil, nil
	}
	return next, reg
}

// undo removes the registration of owner that a failed Watch made, from
// whichever informer serves key now: a wider informer that replaced the
// one Watch registered on carries the registration over. An owner calls
// Watch for a key once at a time: with two concurrent calls of one owner,
// the registration removed could be the other call's.
func (m *Manager) undo(owner string, key Key) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.informers[key]; e != nil {
		m.releaseLocked(owner, e)
	}
}

// releaseLocked removes owner's handler from e and stops e when no owner
// remains. m.mu is held.
func (m *Manager) releaseLocked(owner string, e *entry) {
	reg, ok := e.owners[owner]
	if !ok {
		return
	}
	delete(e.owners, owner)
	delete(e.handlers, owner)
	// RemoveEventHandler fails only for a handle of another informer.
	_ = e.informer.RemoveEventHandler(reg)
	if len(e.owners) == 0 {
		m.stopLocked(e)
	}
}

// stopLocked forgets e and tells its informer to stop (without waiting).
// m.mu is held.
func (m *Manager) stopLocked(e *entry) {
	if m.informers[e.key] == e {
		delete(m.informers, e.key)
	}
	e.cancel()
}

// Release removes owner's handler from key; the informer stops when no
// owner remains. Releasing what is not watched does nothing. Release does
// not wait for the informer's goroutines to end (Stop does), so it may be
// called from a Handler.
func (m *Manager) Release(owner string, key Key) {
	key, err := m.normalize(key)
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.informers[key]; e != nil {
		m.releaseLocked(owner, e)
	}
}

// ReleaseAll removes every registration of owner.
func (m *Manager) ReleaseAll(owner string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.informers {
		m.releaseLocked(owner, e)
	}
}

// Cache returns the cache of a running informer.
func (m *Manager) Cache(key Key) (Cache, bool) {
	key, err := m.normalize(key)
	if err != nil {
		return nil, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.informers[key]
	if !ok {
		return nil, false
	}
	return e.cache, true
}

// Stop stops every informer and waits until their goroutines have ended
// (including those of informers released earlier). After Stop, Watch
// returns ErrStopped. Stop must not be called from a Handler.
func (m *Manager) Stop() {
	m.mu.Lock()
	m.stopped = true
	for _, e := range m.informers {
		m.stopLocked(e)
	}
	m.mu.Unlock()
	m.running.Wait()
}

// Keys lists the running informers, sorted by GVR and selector.
func (m *Manager) Keys() []Key {
	m.mu.Lock()
	keys := make([]Key, 0, len(m.informers))
	for k := range m.informers {
		keys = append(keys, k)
	}
	m.mu.Unlock()
	slices.SortFunc(keys, func(a, b Key) int {
		return cmp.Or(cmp.Compare(a.GVR.String(), b.GVR.String()), cmp.Compare(a.Selector, b.Selector))
	})
	return keys
}
