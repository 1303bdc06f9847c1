// Package crashtest holds integration tests that run the engine as a
// separate `rgd controller` process against the local control plane, so
// that it can be killed with SIGKILL and restarted (crash safety), and so
// that its API writes can be counted on their own (a settled instance costs
// no writes). It has no code of its own, only tests; it is a package of its
// own so that no in-process engine reconciles the same kinds.
package crashtest
