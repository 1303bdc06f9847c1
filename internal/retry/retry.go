package retry

import (
	"context"
	"errors"
	"time"

	"github.com/go-logr/logr"
)

// Delays between attempts: the first, and the cap of the exponential
// backoff unless Until is given another.
const (
	FirstDelay      = 200 * time.Millisecond
	DefaultMaxDelay = 30 * time.Second
)

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that Until returns it at once. Permanent(nil) is
// nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// Until calls fn until it returns nil, waiting with exponential backoff
// (from FirstDelay, doubling, capped at maxDelay, DefaultMaxDelay when not
// positive) between attempts and logging every failure with what it was
// trying to do. It returns nil once fn has succeeded, the error of fn when
// it is Permanent, and otherwise, when ctx ends, ctx's error wrapping fn's
// last error.
func Until(ctx context.Context, log logr.Logger, what string, maxDelay time.Duration, fn func(context.Context) error) error {
	if maxDelay <= 0 {
		maxDelay = DefaultMaxDelay
	}
	delay := min(FirstDelay, maxDelay)
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		var permanent *permanentError
		switch {
		case err == nil:
			if attempt > 1 {
				log.Info("succeeded after retrying", "step", what, "attempts", attempt)
			}
			return nil
		case errors.As(err, &permanent):
			return permanent.err
		case ctx.Err() != nil:
			return errors.Join(context.Cause(ctx), err)
		}
		log.Info("start-up step failed; retrying with backoff", "step", what, "attempt", attempt, "retryIn", delay.String(), "error", err.Error())
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return errors.Join(context.Cause(ctx), err)
		case <-timer.C:
		}
		delay = min(2*delay, maxDelay)
	}
}
