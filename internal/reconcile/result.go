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

// mark is how an error asks the loop to treat it.
type mark int

const (
	markTerminal mark = iota + 1
	markWaiting
)

// markedError is an error with a mark; it unwraps to the error it marks.
type markedError struct {
	err  error
	mark mark
}

func (e *markedError) Error() string { return e.err.Error() }
func (e *markedError) Unwrap() error { return e.err }

// marked reports whether err, or an error it wraps, carries m.
func marked(err error, m mark) bool {
	var me *markedError
	for err != nil {
		if !errors.As(err, &me) {
			return false
		}
		if me.mark == m {
			return true
		}
		err = me.err
	}
	return false
}

// Terminal wraps err so that the loop does not retry it: the key waits for
// an event (a change of the object, of its definition, or of what it
// depends on). Terminal(nil) is nil.
func Terminal(err error) error {
	if err == nil {
		return nil
	}
	return &markedError{err: err, mark: markTerminal}
}

// IsTerminal reports whether err, or an error it wraps, was marked Terminal.
func IsTerminal(err error) bool { return marked(err, markTerminal) }

// Waiting wraps err so that the loop retries the key with backoff, as it
// does any error, but counts and logs it as a wait (something outside the
// pass's control that may appear any moment, such as a kind the cluster is
// about to serve) rather than a failure. Waiting(nil) is nil.
func Waiting(err error) error {
	if err == nil {
		return nil
	}
	return &markedError{err: err, mark: markWaiting}
}

// IsWaiting reports whether err, or an error it wraps, was marked Waiting.
func IsWaiting(err error) bool { return marked(err, markWaiting) }

// retryAfter returns the delay the API server asked for in an error it
// answered (a 429 or 5xx with Retry-After), if any.
func retryAfter(err error) (time.Duration, bool) {
	if err == nil {
		return 0, false
	}
	seconds, ok := apierrors.SuggestsClientDelay(err)
	if !ok || seconds <= 0 {
		return 0, false
	}
	return time.Duration(seconds) * time.Second, true
}
