package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// machineNotes describes where and how the run happened: the machine, the
// harness's arguments as given, the engine's limits and where each comes
// from, and the control plane.
func machineNotes(o options) []string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return []string{
		fmt.Sprintf("run %s on %d cores (%s), %s/%s, %s", time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH, runtime.Version()),
		"harness: " + argsNote(o.args),
		fmt.Sprintf("engine: rgd controller, a separate process; %s; client: %d concurrent requests over %d namespaces, as the devcluster's admin (exempt from API Priority and Fairness)",
			o.limits.note(), o.concurrency, o.namespaces),
		fmt.Sprintf("children written as: %s", identityNote(o)),
		fmt.Sprintf("control plane: pkg/devcluster (%s); idle window %s; %s", controlPlaneNote(o), o.idle, o.timeoutNote()),
	}
}

// argsNote renders the harness's arguments, or says there were none.
func argsNote(args []string) string {
	if len(args) == 0 {
		return "go run ./hack/bench (no flags: every default)"
	}
	return "go run ./hack/bench " + strings.Join(args, " ")
}

// controlPlaneNote lists the control plane's components, and says why
// kube-controller-manager and kube-scheduler did not run when they did not.
func controlPlaneNote(o options) string {
	if o.controllerManager {
		return fmt.Sprintf("etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok %v", o.kwok)
	}
	return fmt.Sprintf("etcd, kube-apiserver, kwok %v; no kube-controller-manager nor kube-scheduler: "+
		"without kwok no pod would run (--controller-manager runs them)", o.kwok)
}

// identityNote says whose identity the engine writes children with.
func identityNote(o options) string {
	if o.impersonate {
		return "each namespace's ServiceAccount " + writerSA + ", through impersonation (--impersonate)"
	}
	return "the engine's own identity"
}
