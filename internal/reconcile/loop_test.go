package reconcile

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/rgd-dev/rgd/internal/metrics"
)

// TestOutcomes runs one pass per case and checks what the loop schedules:
// whether the key is retried (and counted as a failure), what the metric
// says, and whether OnError heard of it.
func TestOutcomes(t *testing.T) {
	gr := schema.GroupResource{Resource: "configmaps"}
	for _, tc := range []struct {
		name     string
		res      Result
		err      error
		panics   bool
		cancel   bool
		retries  int
		outcome  string
		notified bool
		queued   bool // back in the queue (at once or later)
	}{
		{name: "success", outcome: "success"},
		{name: "requeue after", res: Result{RequeueAfter: time.Hour}, outcome: "requeue", queued: true},
		{name: "transient error", err: apierrors.NewInternalError(errors.New("boom")), retries: 1, outcome: "error", notified: true, queued: true},
		{name: "throttled", err: apierrors.NewTooManyRequests("slow down", 1), retries: 1, outcome: "error", notified: true, queued: true},
		{name: "conflict", err: apierrors.NewConflict(gr, "a", errors.New("changed")), retries: 1, outcome: "error", queued: true},
		{name: "terminal", err: Terminal(errors.New("refused")), outcome: "terminal", notified: true},
		{name: "wrapped terminal", err: fmt.Errorf("pass: %w", Terminal(errors.New("invalid"))), outcome: "terminal", notified: true},
		{name: "waiting", err: Waiting(errors.New("kind not served yet")), retries: 1, outcome: "requeue", queued: true},
		{name: "panic", panics: true, retries: 1, outcome: "error", notified: true, queued: true},
		{name: "canceled", err: context.Canceled, cancel: true, outcome: "canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := metrics.New(nil)
			var heard error
			clk := clocktesting.NewFakeClock(time.Now())
			l := newLoop(func(context.Context, string) (Result, error) {
				if tc.panics {
					panic("bug")
				}
				return tc.res, tc.err
			}, Options[string]{Name: "test", Metrics: m, MaxDelay: time.Hour, OnError: func(_ string, err error) { heard = err }}, clk)
			defer l.ShutDown()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				cancel()
			}
			l.Add("k")
			require.True(t, l.ProcessNext(ctx))
			assert.Equal(t, tc.retries, l.Retries("k"), "retries")
			assert.Equal(t, 1.0, testutil.ToFloat64(m.Reconciles.WithLabelValues("test", tc.outcome)), "outcome %s counted", tc.outcome)
			assert.Equal(t, tc.notified, heard != nil, "OnError told")
			// Whatever was scheduled is due within two hours.
			clk.Step(2 * time.Hour)
			assert.Equal(t, tc.queued, queuedSoon(l), "queued again")
			if tc.panics {
				assert.Equal(t, 1.0, testutil.ToFloat64(m.Panics.WithLabelValues("test")))
			}
		})
	}
}

// queuedSoon reports whether the key shows up in the queue: the delaying
// queue moves a due key in from its own goroutine, so poll with a deadline.
// A key that is not coming back is proven by the deadline passing.
func queuedSoon(l *Loop[string]) bool {
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if l.queue.Len() > 0 {
			return true
		}
		time.Sleep(time.Millisecond) // polling with a deadline
	}
	return false
}

// TestRetryAfterIsHonoured checks that a 429 asking for 3 s is not retried
// sooner, while the backoff of a plain error starts at the base delay.
func TestRetryAfterIsHonoured(t *testing.T) {
	l := New(func(context.Context, string) (Result, error) { return Result{}, nil }, Options[string]{Name: "test", BaseDelay: time.Millisecond, MaxDelay: 10 * time.Second})
	defer l.ShutDown()
	assert.Equal(t, 3*time.Second, l.retryDelay("a", apierrors.NewTooManyRequests("slow down", 3)))
	assert.Equal(t, time.Millisecond, l.retryDelay("b", apierrors.NewInternalError(errors.New("x"))), "first failure: the base delay")
	assert.Equal(t, 2*time.Millisecond, l.retryDelay("b", apierrors.NewInternalError(errors.New("x"))), "second failure: doubled")
	assert.Equal(t, 10*time.Second, l.retryDelay("c", apierrors.NewTooManyRequests("slow down", 60)), "Retry-After capped by MaxDelay")
}

// TestBackoffIsCapped checks that a key failing for ever is retried at the
// cap, not at an ever longer delay.
func TestBackoffIsCapped(t *testing.T) {
	l := New(func(context.Context, string) (Result, error) { return Result{}, nil }, Options[string]{Name: "test", BaseDelay: time.Millisecond, MaxDelay: 30 * time.Second})
	defer l.ShutDown()
	var last time.Duration
	for range 40 {
		last = l.retryDelay("k", errors.New("down"))
	}
	assert.Equal(t, 30*time.Second, last)
}

// TestMarks checks that the marks survive wrapping and nesting, and that an
// unmarked error carries none.
func TestMarks(t *testing.T) {
	base := errors.New("kind not served")
	assert.True(t, IsWaiting(fmt.Errorf("compiling: %w", Waiting(base))))
	assert.False(t, IsTerminal(Waiting(base)))
	both := Terminal(fmt.Errorf("giving up: %w", Waiting(base)))
	assert.True(t, IsTerminal(both))
	assert.True(t, IsWaiting(both), "a mark further down the chain is found")
	assert.ErrorIs(t, both, base)
	assert.False(t, IsTerminal(base))
	assert.False(t, IsWaiting(nil))
	assert.NoError(t, Terminal(nil))
	assert.NoError(t, Waiting(nil))
}
