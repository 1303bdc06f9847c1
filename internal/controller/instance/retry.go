package instance

import (
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Which failed writes are retried with backoff and which wait for a change.

// retryLater records a failure that may heal: the pass fails with it once
// the instance's status has been written.
func (p *pass) retryLater(err error) {
	p.retryMu.Lock()
	defer p.retryMu.Unlock()
	p.retry = errors.Join(p.retry, err)
}

// refusedError is a child rgd will not write: its name is held by an object
// rgd did not create for this instance. Retrying changes nothing; an event
// of that object, or of the instance or its RGD, brings the instance back.
type refusedError struct{ msg string }

// Error returns the message saying what was refused and why.
func (e *refusedError) Error() string { return e.msg }

// retryable reports whether a failed write may succeed when tried again
// unchanged. Only rgd's own refusals and the API server's verdicts on the
// object itself (invalid, malformed) are final; anything else (5xx, 429,
// timeouts, conflicts, lost connections, lost answers, a permission not
// granted yet) is retried.
func retryable(err error) bool {
	var refused *refusedError
	switch {
	case errors.As(err, &refused),
		apierrors.IsInvalid(err),
		apierrors.IsBadRequest(err),
		apierrors.IsMethodNotSupported(err),
		apierrors.IsNotAcceptable(err),
		apierrors.IsUnsupportedMediaType(err),
		apierrors.IsRequestEntityTooLargeError(err):
		return false
	}
	return true
}
