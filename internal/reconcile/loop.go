package reconcile

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/rgd-dev/rgd/internal/metrics"
)

// Default retry delays: the first retry of a failed key, and the cap of the
// exponential backoff.
const (
	DefaultBaseDelay = 5 * time.Millisecond
	DefaultMaxDelay  = 30 * time.Second
)

// Func is one pass of a controller over one key.
type Func[K comparable] func(ctx context.Context, key K) (Result, error)

// Options configure a Loop.
type Options[K comparable] struct {
	// Name names the controller in logs and metrics ("instance", "rgd").
	Name string
	// Workers is the number of keys processed at once (default 1).
	Workers int
	// BaseDelay and MaxDelay bound the exponential backoff of failed keys
	// (defaults DefaultBaseDelay and DefaultMaxDelay).
	BaseDelay, MaxDelay time.Duration
	// Logger receives a line per failed pass.
	Logger logr.Logger
	// Metrics receives reconcile counts, durations, queue depth and panics;
	// nil disables them.
	Metrics *metrics.Metrics
	// OnError, when set, is told of every failed pass that will be retried
	// or is terminal (for example to record an event), not of passes cut
	// short by shutdown.
	OnError func(key K, err error)
}

// Loop is a rate-limited work queue and the workers that drain it.
type Loop[K comparable] struct {
	fn      Func[K]
	opts    Options[K]
	limiter workqueue.TypedRateLimiter[K]
	queue   workqueue.TypedRateLimitingInterface[K]
}

// New builds a loop running fn; Run starts it.
func New[K comparable](fn Func[K], opts Options[K]) *Loop[K] {
	return newLoop(fn, opts, clock.RealClock{})
}

// newLoop is New on a given clock (tests step a fake one).
func newLoop[K comparable](fn Func[K], opts Options[K], clk clock.WithTicker) *Loop[K] {
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = DefaultBaseDelay
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = DefaultMaxDelay
	}
	if opts.MaxDelay < opts.BaseDelay {
		opts.MaxDelay = opts.BaseDelay
	}
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[K](opts.BaseDelay, opts.MaxDelay)
	return &Loop[K]{
		fn:      fn,
		opts:    opts,
		limiter: limiter,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(limiter,
			workqueue.TypedRateLimitingQueueConfig[K]{Name: opts.Name, Clock: clk}),
	}
}

// Add enqueues key now.
func (l *Loop[K]) Add(key K) { l.queue.Add(key) }

// AddAfter enqueues key after d.
func (l *Loop[K]) AddAfter(key K, d time.Duration) { l.queue.AddAfter(key, d) }

// Len is the number of keys waiting.
func (l *Loop[K]) Len() int { return l.queue.Len() }

// Retries is the number of failed passes of key since it last succeeded.
func (l *Loop[K]) Retries(key K) int { return l.queue.NumRequeues(key) }

// Drain removes the keys waiting now, without processing them, and returns
// how many there were (for tests that look at what events enqueue).
func (l *Loop[K]) Drain() int {
	n := 0
	for l.queue.Len() > 0 {
		key, shutdown := l.queue.Get()
		if shutdown {
			break
		}
		l.queue.Forget(key)
		l.queue.Done(key)
		n++
	}
	return n
}

// ShutDown stops the queue without draining it (for tests that never Run).
func (l *Loop[K]) ShutDown() { l.queue.ShutDown() }

// Run starts the workers and blocks until ctx ends and the keys being
// processed are done.
func (l *Loop[K]) Run(ctx context.Context) {
	go func() {
		<-ctx.Done()
		l.queue.ShutDownWithDrain()
	}()
	var wg sync.WaitGroup
	for i := 0; i < l.opts.Workers; i++ {
		wg.Go(func() {
			for l.ProcessNext(ctx) {
			}
		})
	}
	wg.Wait()
}

// Outcomes, as the rgd_reconcile_total metric counts them.
const (
	outcomeSuccess  = "success"
	outcomeRequeue  = "requeue"
	outcomeError    = "error"
	outcomeTerminal = "terminal"
	outcomeCanceled = "canceled"
)

// ProcessNext takes one key, runs a pass and schedules what follows. It
// returns false once the queue has shut down.
func (l *Loop[K]) ProcessNext(ctx context.Context) bool {
	key, shutdown := l.queue.Get()
	if shutdown {
		return false
	}
	defer l.queue.Done(key)
	if l.opts.Metrics != nil {
		l.opts.Metrics.QueueDepth.WithLabelValues(l.opts.Name).Set(float64(l.queue.Len()))
	}
	start := time.Now()
	res, err := l.safeRun(ctx, key)
	outcome := l.schedule(ctx, key, res, err)
	if l.opts.Metrics != nil {
		l.opts.Metrics.ObserveReconcile(l.opts.Name, time.Since(start), outcome)
	}
	return true
}

// schedule decides what follows a pass and returns its outcome.
func (l *Loop[K]) schedule(ctx context.Context, key K, res Result, err error) string {
	// Only the outcomes that log pay for formatting the key: a success is
	// the hot path.
	log := func() logr.Logger { return l.opts.Logger.WithValues(l.opts.Name, fmt.Sprint(key)) }
	switch {
	case err != nil && ctx.Err() != nil:
		// Shutting down: the pass was cut short, not failed. The next
		// leader (or this process, restarted) lists every key again.
		log().V(1).Info("reconcile interrupted by shutdown", "error", err.Error())
		return outcomeCanceled
	case IsTerminal(err):
		l.queue.Forget(key)
		log().Info("reconcile failed; waiting for a change before trying again", "error", err.Error())
		l.notify(key, err)
		return outcomeTerminal
	case IsWaiting(err):
		delay := l.retryDelay(key, err)
		l.queue.AddAfter(key, delay)
		log().V(1).Info("waiting; trying again with backoff", "reason", err.Error(), "retryIn", delay.String())
		return outcomeRequeue
	case err != nil:
		delay := l.retryDelay(key, err)
		l.queue.AddAfter(key, delay)
		if apierrors.IsConflict(err) {
			// Optimistic concurrency at work, not news.
			log().V(1).Info("reconcile hit a write conflict; retrying", "error", err.Error(), "retryIn", delay.String())
		} else {
			log().Info("reconcile failed; retrying with backoff", "error", err.Error(), "retryIn", delay.String())
			l.notify(key, err)
		}
		return outcomeError
	case res.RequeueAfter > 0:
		l.queue.Forget(key)
		l.queue.AddAfter(key, res.RequeueAfter)
		return outcomeRequeue
	default:
		l.queue.Forget(key)
		return outcomeSuccess
	}
}

// retryDelay counts a failure of key and returns when to retry it: the
// backoff, or the Retry-After the API server asked for if that is longer
// (both capped by MaxDelay).
func (l *Loop[K]) retryDelay(key K, err error) time.Duration {
	delay := l.limiter.When(key)
	if after, ok := retryAfter(err); ok && after > delay {
		delay = min(after, l.opts.MaxDelay)
	}
	return delay
}

func (l *Loop[K]) notify(key K, err error) {
	if l.opts.OnError != nil {
		l.opts.OnError(key, err)
	}
}

// safeRun recovers a panicking pass into an error of its key, so that one
// object can never crash the engine.
func (l *Loop[K]) safeRun(ctx context.Context, key K) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			if l.opts.Metrics != nil {
				l.opts.Metrics.Panics.WithLabelValues(l.opts.Name).Inc()
			}
			l.opts.Logger.Error(fmt.Errorf("panic: %v", p), "reconcile panicked", l.opts.Name, fmt.Sprint(key), "stack", string(debug.Stack()))
			err = fmt.Errorf("reconcile panicked: %v", p)
		}
	}()
	return l.fn(ctx, key)
}
