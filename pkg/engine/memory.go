package engine

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/go-logr/logr"
)

// A Go heap grows to about twice its live size before the garbage collector
// runs, and the runtime hands freed pages back to the operating system only
// slowly. After a burst of work (thousands of instances created) that
// leaves the engine holding about twice the memory its caches need, for as
// long as nothing else happens. releaseWhenIdle notices that the burst is
// over and returns the freed memory at once. It is an option
// (Options.ReleaseMemoryWhenIdle) because it acts on the whole process, which
// may not be the engine's alone.

// idleCheckEvery is how often the engine looks at its allocation rate.
const idleCheckEvery = 15 * time.Second

// minSlack is the least garbage and free memory worth a release.
const minSlack = 16 << 20

// heapSample is what releaseWhenIdle reads from the runtime.
type heapSample struct {
	allocated uint64 // bytes allocated since the process started
	live      uint64 // bytes the last collection found live
	objects   uint64 // bytes of heap objects, live or not yet collected
	free      uint64 // bytes of free spans not yet returned to the OS
}

var heapMetrics = []string{
	"/gc/heap/allocs:bytes",
	"/gc/heap/live:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes",
}

func readHeap() heapSample {
	samples := make([]metrics.Sample, len(heapMetrics))
	for i, name := range heapMetrics {
		samples[i].Name = name
	}
	metrics.Read(samples)
	value := func(i int) uint64 {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return samples[i].Value.Uint64()
	}
	return heapSample{allocated: value(0), live: value(1), objects: value(2), free: value(3)}
}

// releasable is what a collection followed by a release gives back: the
// garbage and the free spans. The unused room inside spans that still hold
// live objects (the heap's fragmentation) is not: no release returns it.
// Counting it once made an engine whose heap was fragmented by more than
// minSlack (at 2000 instances) collect and release every idleCheckEvery,
// about 0.6 s of CPU a minute for nothing.
func (s heapSample) releasable() uint64 {
	var garbage uint64
	if s.objects > s.live {
		garbage = s.objects - s.live
	}
	return garbage + s.free
}

// shouldRelease decides from two samples idleCheckEvery apart: the engine
// is quiet (it allocated less than a quarter of its live heap meanwhile) and
// at least minSlack of garbage and free memory can be given back.
func shouldRelease(prev, cur heapSample) bool {
	quiet := cur.allocated-prev.allocated < cur.live/4
	return quiet && cur.releasable() >= minSlack
}

// releaseWhenIdle checks every idleCheckEvery until ctx ends, and returns
// memory to the operating system when shouldRelease says so.
func releaseWhenIdle(ctx context.Context, log logr.Logger) {
	t := time.NewTicker(idleCheckEvery)
	defer t.Stop()
	prev := readHeap()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur := readHeap()
		if shouldRelease(prev, cur) {
			debug.FreeOSMemory()
			after := readHeap()
			log.V(1).Info("idle: returned freed memory to the OS", "releasableBefore", cur.releasable(), "releasableAfter", after.releasable(), "live", after.live)
			cur = after
		}
		prev = cur
	}
}
