package instance

import (
	"context"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// rgd's memory of its own writes. The informer caches lag rgd's writes by a
// few milliseconds, and a reconcile often starts inside that window: the
// write's own events trigger one. Read from the caches alone, that
// reconcile would see the state from before the write, write again, and,
// for an instance, fail on the stale resourceVersion (409). So rgd keeps
// what its writes returned until the caches have caught up, and what it
// applied to each child so that an unchanged child costs no comparison.

// writeMemory is what rgd remembers of its own writes. The zero value is
// ready to use; it is safe for concurrent use.
type writeMemory struct {
	// applied holds, per child UID, the last desired state rgd applied and
	// the resourceVersion it produced.
	applied sync.Map // types.UID -> appliedRecord
	// children holds the children rgd wrote until the informer cache has
	// them.
	children sync.Map // writtenKey -> writtenObject
	// instances holds, per instance, the object rgd's last write of it
	// returned, until the informer cache has caught up.
	instances sync.Map // writtenKey -> writtenObject
	// deleting holds, per instance UID, when rgd started deleting it.
	deleting sync.Map // types.UID -> time.Time
}

// writtenKey names one object rgd wrote.
type writtenKey struct {
	gvr             schema.GroupVersionResource
	namespace, name string
}

// writtenObject is an object as rgd's write returned it.
type writtenObject struct {
	obj *unstructured.Unstructured
	at  time.Time
}

// appliedRecord is what rgd applied to a child: the desired state's hash
// and the resourceVersion the write produced.
type appliedRecord struct {
	hash            string
	resourceVersion string
}

// writtenTTL bounds how long a write stands in for the cache: informers
// catch up in milliseconds, and a longer wait means something else happened.
const writtenTTL = 5 * time.Second

// rememberApplied records that the child live holds the desired state of
// hash, at its current resourceVersion.
func (m *writeMemory) rememberApplied(live *unstructured.Unstructured, hash string) {
	m.applied.Store(live.GetUID(), appliedRecord{hash: hash, resourceVersion: live.GetResourceVersion()})
}

// appliedUnchanged reports whether rgd applied the desired state of hash to
// live and nobody changed it since.
func (m *writeMemory) appliedUnchanged(live *unstructured.Unstructured, hash string) bool {
	v, ok := m.applied.Load(live.GetUID())
	if !ok {
		return false
	}
	rec := v.(appliedRecord)
	return rec.hash == hash && rec.resourceVersion == live.GetResourceVersion()
}

// childGone forgets what rgd applied to the child of uid: whoever deleted
// it, nothing will be compared with it again.
func (m *writeMemory) childGone(uid types.UID) { m.applied.Delete(uid) }

// rememberChild records a child of gvr as rgd's write of it returned it.
func (m *writeMemory) rememberChild(gvr schema.GroupVersionResource, written *unstructured.Unstructured) {
	k := writtenKey{gvr: gvr, namespace: written.GetNamespace(), name: written.GetName()}
	m.children.Store(k, writtenObject{obj: written, at: time.Now()})
}

// latestChild returns the newer of the cached child (nil: the cache has
// none) and rgd's last write of it. The write stands in only while it is
// recent and, when the cache has the child, for the same object (UID) and
// newer; otherwise it is forgotten.
func (m *writeMemory) latestChild(k writtenKey, cached *unstructured.Unstructured) *unstructured.Unstructured {
	v, ok := m.children.Load(k)
	if !ok {
		return cached
	}
	w := v.(writtenObject)
	switch {
	case time.Since(w.at) > writtenTTL:
		m.children.Delete(k) // never let a stale write hide a deletion
	case cached == nil:
		return w.obj // the cache has not seen rgd's write yet
	case cached.GetUID() == w.obj.GetUID() && olderVersion(cached, w.obj):
		return w.obj
	default:
		m.children.Delete(k) // the cache caught up
	}
	return cached
}

// forgetChild forgets everything about a child rgd deleted.
func (m *writeMemory) forgetChild(k writtenKey, uid types.UID) {
	m.applied.Delete(uid)
	m.children.Delete(k)
}

// rememberInstance records the object rgd's write of an instance returned.
func (m *writeMemory) rememberInstance(gvr schema.GroupVersionResource, written *unstructured.Unstructured) {
	k := writtenKey{gvr: gvr, namespace: written.GetNamespace(), name: written.GetName()}
	m.instances.Store(k, writtenObject{obj: written, at: time.Now()})
}

// latestInstance returns the newer of the cached instance and rgd's last
// write of it. The write stands in only while it is recent, for the same
// object (UID), and newer than the cache; otherwise it is forgotten.
func (m *writeMemory) latestInstance(gvr schema.GroupVersionResource, cached *unstructured.Unstructured) *unstructured.Unstructured {
	k := writtenKey{gvr: gvr, namespace: cached.GetNamespace(), name: cached.GetName()}
	v, ok := m.instances.Load(k)
	if !ok {
		return cached
	}
	w := v.(writtenObject)
	if time.Since(w.at) <= writtenTTL && w.obj.GetUID() == cached.GetUID() && olderVersion(cached, w.obj) {
		return w.obj
	}
	m.instances.CompareAndDelete(k, v)
	return cached
}

// isOwnWrite reports whether obj is exactly the version of an instance that
// rgd's last write of it produced.
func (m *writeMemory) isOwnWrite(gvr schema.GroupVersionResource, obj *unstructured.Unstructured) bool {
	v, ok := m.instances.Load(writtenKey{gvr: gvr, namespace: obj.GetNamespace(), name: obj.GetName()})
	if !ok {
		return false
	}
	w := v.(writtenObject).obj
	return w.GetUID() == obj.GetUID() && w.GetResourceVersion() == obj.GetResourceVersion()
}

// forgetInstance forgets rgd's last write of an instance that is gone.
func (m *writeMemory) forgetInstance(key Key) {
	m.instances.Delete(writtenKey{gvr: key.GVR, namespace: key.Namespace, name: key.Name})
}

// deletionStarted returns when rgd started deleting the instance of uid:
// now, when this is the first time it is asked.
func (m *writeMemory) deletionStarted(uid types.UID, now time.Time) time.Time {
	v, _ := m.deleting.LoadOrStore(uid, now)
	return v.(time.Time)
}

// deletionDone forgets when rgd started deleting the instance of uid.
func (m *writeMemory) deletionDone(uid types.UID) { m.deleting.Delete(uid) }

// sweep drops, until ctx ends, the writes whose informer has had ample time
// to catch up: a pass drops the entries it reads, but an object no pass
// reads again would otherwise be held for ever.
func (m *writeMemory) sweep(ctx context.Context) {
	t := time.NewTicker(writtenTTL)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			m.dropStale(now)
		}
	}
}

// dropStale drops the written children and instances older than writtenTTL
// at now.
func (m *writeMemory) dropStale(now time.Time) {
	for _, written := range []*sync.Map{&m.children, &m.instances} {
		written.Range(func(k, v any) bool {
			if now.Sub(v.(writtenObject).at) > writtenTTL {
				written.CompareAndDelete(k, v)
			}
			return true
		})
	}
}

// olderVersion reports whether a's resourceVersion is older than b's. They
// are opaque strings to clients, but etcd's are increasing integers; when
// they are not numbers, the cache is trusted.
func olderVersion(a, b *unstructured.Unstructured) bool {
	va, errA := strconv.ParseUint(a.GetResourceVersion(), 10, 64)
	vb, errB := strconv.ParseUint(b.GetResourceVersion(), 10, 64)
	return errA == nil && errB == nil && va < vb
}
