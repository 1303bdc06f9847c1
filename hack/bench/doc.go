// Command bench is rgd's benchmark harness (`make bench`).
//
// It starts a local control plane (pkg/devcluster), builds and runs
// `rgd controller` as a separate process, and measures, in one run: creating N
// instances of a 4-resource RGD until all are ACTIVE, the same child objects
// created directly (the floor), an update propagated to every child, deletion
// until every child is gone, the engine's writes and CPU while idle, its
// resident memory (per instance too), one instance's update latency while N
// exist, what the engine's requests do to another client's latency, and the
// compiler's Go benchmarks. It prints a markdown table of measured value,
// target and pass/miss on stdout and writes the same table to --out; progress
// goes to stderr. See docs/performance.md.
//
// # What runs by default
//
// Every scenario (compile, floor, create, update, neighbour, idle, memory,
// latency, delete) at N=100 and N=500, with kwok running the Deployments'
// pods. The engine runs at its own defaults: --workers, --qps and --burst
// are passed only when set, and the table's notes say either "engine
// defaults (workers W, QPS Q, burst B from pkg/engine)", read from
// pkg/engine, or which were set. --qps is passed as given, a negative value
// included; before the control plane starts, the harness runs the engine
// once with the flags and stops if it refuses them (exit 2). The notes also
// give the harness's arguments as given.
//
// The engine runs as ServiceAccount rgd-system/rgd, bound to cluster-admin,
// with a token from the TokenRequest API, so that its requests go through
// API Priority and Fairness (flow schema service-accounts, priority level
// workload-low) as a deployed rgd's do; --engine-identity=admin runs it with
// the devcluster's system:masters token, which APF exempts. The create rows
// give the API server's requests by priority level (from
// apiserver_flowcontrol_dispatched_requests_total) and check that the
// engine's requests landed in workload-low.
//
// The neighbour is a second client with its own identity (ServiceAccount
// bench-neighbour/neighbour, also workload-low; --neighbour-identity=user
// for an impersonated user in global-default) and its own connection, that
// sends 20 GETs of one ConfigMap and 5 merge patches of another a second,
// each timed (--neighbour-gets, --neighbour-writes). It runs for 15 s before
// the engine starts, and during each floor and create phase; the rows give
// p50 and p99 and the p99 against the window without rgd.
//
// The latency scenario, once N instances are settled, patches one instance
// at a time (30 times, --latency-updates, in turn over five) and times each
// until the instance is ACTIVE at its new generation and its ConfigMap and
// Deployment show the value.
//
// # 10,000 instances
//
//	make bench BENCH_FLAGS="--sizes 10000 --kwok=false"
//
// Without kwok no pod runs, so kube-controller-manager and kube-scheduler
// do not run either (--controller-manager runs them): their work on 10,000
// Pending pods, at the controllers' 20 requests a second, would outlast the
// run. A phase waits at most 5 min + 100 ms per instance (about 22 min at
// N=10000; --timeout sets one limit for every phase). Waits check their
// condition on watch events, at most a tenth of the time, and the harness's
// informers drop managedFields, so the harness's own CPU and memory stay
// modest at 10,000 (its peak RSS is a row). The run takes roughly 40 minutes
// at a QPS of 100, most of it the create, update and delete phases (about 6
// engine requests per instance each); fewer with a higher QPS.
// --profile-dir adds CPU and heap profiles, and the top 10 functions of the
// engine's settled heap (go tool pprof -top), to say where the bytes go.
package main
