// Package reconcile is the contract between rgd's controllers and the one
// worker loop that runs them: a controller's pass takes a key and returns a
// Result or an error, and the Loop decides what happens next.
//
// The outcomes, matched on types and never on message text:
//   - success: the key is forgotten until an event brings it back;
//   - Result.RequeueAfter: the key comes back after that delay (a poll the
//     controller needs, such as a deletion report that is due);
//   - an error: the key is retried with exponential backoff, capped
//     (Options.MaxDelay, 30 s by default), and never sooner than a
//     Retry-After the API server asked for;
//   - a Waiting error: retried with the same backoff, but counted and
//     logged as a wait (something that may appear any moment), not a
//     failure;
//   - a Terminal error: nothing retrying can heal (a refused object, an
//     invalid template); the key waits for an event of something it
//     depends on;
//   - any error once the context has ended: the pass was cut short by
//     shutdown, not failed, and is not retried.
//
// The Loop also owns panic recovery (a panicking pass is an error of that
// key, never a crash of the process), the queue-depth and reconcile metrics,
// and a graceful drain on shutdown.
package reconcile
