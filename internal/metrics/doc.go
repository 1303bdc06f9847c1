// Package metrics defines rgd's Prometheus metrics: reconciles and their
// duration, queue depth, API requests by verb (from client-go's own hooks),
// CEL evaluation time and instances by state.
package metrics
