package engine

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestShouldRelease(t *testing.T) {
	const mib = 1 << 20
	prev := heapSample{allocated: 1000 * mib, live: 80 * mib, held: 160 * mib}
	for _, tc := range []struct {
		name string
		cur  heapSample
		want bool
	}{
		{"quiet, holding twice the live heap", heapSample{allocated: 1005 * mib, live: 80 * mib, held: 160 * mib}, true},
		{"busy: allocated a third of the live heap", heapSample{allocated: 1030 * mib, live: 80 * mib, held: 160 * mib}, false},
		{"quiet, holding little more than needed", heapSample{allocated: 1001 * mib, live: 80 * mib, held: 90 * mib}, false},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, shouldRelease(prev, tc.cur)) })
	}
}

func TestReadHeapReadsTheRuntime(t *testing.T) {
	s := readHeap()
	assert.NotZero(t, s.allocated)
	assert.NotZero(t, s.held)
	assert.GreaterOrEqual(t, s.held, s.live)
}
