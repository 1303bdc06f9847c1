// Package retry runs the steps of starting up (installing a CRD, reaching
// the API server, the first lists) until they succeed: a process that
// exits on one failed request turns a blip of the API server into a
// CrashLoopBackOff with growing delays. Only the end of the context, or an
// error marked Permanent (a configuration error no retry can fix), stops
// the attempts.
package retry
