package main

import (
	"fmt"
	"strings"
)

// cpuTimes are CPU seconds by process name.
type cpuTimes map[string]float64

func cpuOf(root string, pids map[string]int) cpuTimes {
	out := cpuTimes{}
	for name, pid := range pids {
		if s, err := ReadProc(root, pid); err == nil {
			out[name] = s.CPU
		}
	}
	return out
}

func (c cpuTimes) sub(base cpuTimes) cpuTimes {
	out := cpuTimes{}
	for k, v := range c {
		out[k] = v - base[k]
	}
	return out
}

func (c cpuTimes) String() string {
	var parts []string
	for _, k := range []string{"rgd", "kube-apiserver", "etcd", "kube-controller", "kube-scheduler", "kwok", "bench client"} {
		if v, ok := c[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f", k, v))
		}
	}
	return strings.Join(parts, ", ")
}

// controlPlanePIDs names the control plane's processes by their command name
// (comm is cut to 15 characters: kube-controller-manager is kube-controller).
func controlPlanePIDs(root string, pids []int) map[string]int {
	out := map[string]int{}
	for _, pid := range pids {
		if name, err := ProcName(root, pid); err == nil {
			out[name] = pid
		}
	}
	return out
}
