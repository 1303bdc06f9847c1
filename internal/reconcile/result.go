package reconcile

import (
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Result is what a pass that did not fail asks of the loop.
type Result struct {
	// RequeueAfter, when positive, brings the key back after this delay.
	RequeueAfter time.Duration
}

// terminalError marks an error that retrying cannot heal.
type terminalError struct{ err error }

func (e *terminalError) Error() string { return e.err.Error() }
func (e *terminalError) Unwrap() error { return e.err }

// Terminal wraps err so that the loop does not retry it: the key waits for
// an event (a change of the object, of its definition, or of what it
// depends on). Terminal(nil) is nil.
func Terminal(err error) error {
	if err == nil {
		return nil
	}
	return &terminalError{err: err}
}

// IsTerminal reports whether err, or an error it wraps, was marked Terminal.
func IsTerminal(err error) bool {
	var t *terminalError
	return errors.As(err, &t)
}

// waitingError marks a pass that is waiting for something outside its
// control that may appear any moment (a kind the cluster is about to serve).
type waitingError struct{ err error }

func (e *waitingError) Error() string { return e.err.Error() }
func (e *waitingError) Unwrap() error { return e.err }

// Waiting wraps err so that the loop retries the key with backoff, as it
// does any error, but counts and logs it as a wait rather than a failure.
// Waiting(nil) is nil.
func Waiting(err error) error {
	if err == nil {
		return nil
	}
	return &waitingError{err: err}
}

// IsWaiting reports whether err, or an error it wraps, was marked Waiting.
func IsWaiting(err error) bool {
	var w *waitingError
	return errors.As(err, &w)
}

// RetryAfter returns the delay the API server asked for in an error it
// answered (a 429 or 5xx with Retry-After), if any.
func RetryAfter(err error) (time.Duration, bool) {
	if err == nil {
		return 0, false
	}
	seconds, ok := apierrors.SuggestsClientDelay(err)
	if !ok || seconds <= 0 {
		return 0, false
	}
	return time.Duration(seconds) * time.Second, true
}
