package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestPercentileNearestRank(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{hundred, 50, 50 * time.Millisecond},
		{hundred, 99, 99 * time.Millisecond},
		{hundred, 100, 100 * time.Millisecond},
		{ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 51, 3 * time.Millisecond},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30), 99, 30 * time.Millisecond},
		{nil, 50, 0},
		{ms(5, 6), 0, 5 * time.Millisecond},
	} {
		assert.Equal(t, tc.want, percentile(tc.sorted, tc.p), "p%g of %v", tc.p, tc.sorted)
	}
}

func TestSummarize(t *testing.T) {
	in := ms(9, 1, 5, 3, 7)
	s := summarize(in)
	assert.Equal(t, summary{Count: 5, P50: 5 * time.Millisecond, P99: 9 * time.Millisecond, Max: 9 * time.Millisecond}, s)
	assert.Equal(t, ms(9, 1, 5, 3, 7), in, "summarize sorts a copy")
	assert.Equal(t, "p50 5.0 ms, p99 9.0 ms (5)", s.String())
	assert.Equal(t, "p50 5.0 ms, p99 9.0 ms (5)", s.withMax(), "the max is the p99: said once")
	assert.Equal(t, "no samples", summarize(nil).String())

	many := make([]time.Duration, 200)
	for i := range many {
		many[i] = time.Millisecond
	}
	many[0] = 12 * time.Second
	assert.Equal(t, "p50 1.0 ms, p99 1.0 ms (200), max 12.00 s", summarize(many).withMax())
}

func TestRatioAndUnits(t *testing.T) {
	assert.Equal(t, "3.2x", ratio(32*time.Millisecond, 10*time.Millisecond))
	assert.Equal(t, "—", ratio(time.Millisecond, 0))
	assert.Equal(t, "9999.0 ms", latency(9999*time.Millisecond))
	assert.Equal(t, "10.00 s", latency(10*time.Second))
	assert.Equal(t, "1.5 KiB", KiB(1536))
}
