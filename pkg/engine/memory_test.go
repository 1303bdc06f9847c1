package engine

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestShouldRelease(t *testing.T) {
	const mib = 1 << 20
	prev := heapSample{allocated: 1000 * mib, live: 80 * mib, objects: 80 * mib}
	for _, tc := range []struct {
		name string
		cur  heapSample
		want bool
	}{
		{"quiet, with garbage of the live heap's size", heapSample{allocated: 1005 * mib, live: 80 * mib, objects: 160 * mib}, true},
		{"quiet, holding free spans", heapSample{allocated: 1005 * mib, live: 80 * mib, objects: 82 * mib, free: 40 * mib}, true},
		{"busy: allocated a third of the live heap", heapSample{allocated: 1030 * mib, live: 80 * mib, objects: 160 * mib}, false},
		{"quiet, little to give back", heapSample{allocated: 1001 * mib, live: 80 * mib, objects: 85 * mib, free: 5 * mib}, false},
		// Fragmentation (room inside spans that hold live objects) is in
		// none of these figures: a release cannot return it, so it must
		// not trigger one release after another.
		{"quiet, just released", heapSample{allocated: 1001 * mib, live: 80 * mib, objects: 80 * mib}, false},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, shouldRelease(prev, tc.cur)) })
	}
}

func TestReadHeapReadsTheRuntime(t *testing.T) {
	runtime.GC() // live is what the last collection found
	s := readHeap()
	assert.NotZero(t, s.allocated)
	assert.NotZero(t, s.objects)
	assert.NotZero(t, s.live)
}
