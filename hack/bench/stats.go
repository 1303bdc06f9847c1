package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// percentile returns the p-th percentile (0 < p ≤ 100) of sorted, which must
// be in ascending order, by the nearest-rank method: the smallest value with
// at least p% of the values at or below it. No values give 0.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// summary is what a row says of a set of latencies.
type summary struct {
	// Count is the number of latencies.
	Count int
	// P50, P99 and Max are their median, 99th percentile and largest.
	P50, P99, Max time.Duration
}

// summarize returns the summary of d (which it does not change).
func summarize(d []time.Duration) summary {
	sorted := slices.Clone(d)
	slices.Sort(sorted)
	s := summary{Count: len(sorted), P50: percentile(sorted, 50), P99: percentile(sorted, 99)}
	if len(sorted) > 0 {
		s.Max = sorted[len(sorted)-1]
	}
	return s
}

// String renders "p50 2.1 ms, p99 7.9 ms (300)": the count says how much a
// p99 of few values is worth.
func (s summary) String() string {
	if s.Count == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s, p99 %s (%d)", latency(s.P50), latency(s.P99), s.Count)
}

// withMax is String with the largest value when the p99 is not it.
func (s summary) withMax() string {
	if s.Max == s.P99 {
		return s.String()
	}
	return fmt.Sprintf("%s, max %s", s, latency(s.Max))
}

// latency formats a duration in milliseconds below 10 s, else in seconds.
func latency(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return Seconds(d)
}

// ratio renders a/b as "3.2x", or "—" when b is zero.
func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1fx", float64(a)/float64(b))
}

// KiB renders bytes as kibibytes with one decimal.
func KiB(b float64) string { return fmt.Sprintf("%.1f KiB", b/1024) }
