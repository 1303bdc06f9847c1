package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/procfs"
)

// ProcSample is what the harness reads of a process from /proc.
type ProcSample struct {
	// RSS is the resident set size now (VmRSS), in bytes.
	RSS uint64
	// HWM is the peak resident set size (VmHWM), in bytes.
	HWM uint64
	// RSSFile is the part of RSS mapped from files (RssFile): the
	// binary's pages, shared with the page cache.
	RSSFile uint64
	// CPU is user plus system CPU time so far (utime+stime), in seconds.
	CPU float64
}

// ReadProc reads pid's memory and CPU time from the proc file system mounted
// at root (usually procfs.DefaultMountPoint).
func ReadProc(root string, pid int) (ProcSample, error) {
	fs, err := procfs.NewFS(root)
	if err != nil {
		return ProcSample{}, fmt.Errorf("proc file system %s: %w", root, err)
	}
	p, err := fs.Proc(pid)
	if err != nil {
		return ProcSample{}, fmt.Errorf("process %d: %w", pid, err)
	}
	st, err := p.Stat()
	if err != nil {
		return ProcSample{}, fmt.Errorf("process %d: stat: %w", pid, err)
	}
	status, err := p.NewStatus()
	if err != nil {
		return ProcSample{}, fmt.Errorf("process %d: status: %w", pid, err)
	}
	return ProcSample{RSS: status.VmRSS, HWM: status.VmHWM, RSSFile: status.RssFile, CPU: st.CPUTime()}, nil
}

// ProcName returns the command name of pid (/proc/<pid>/comm).
func ProcName(root string, pid int) (string, error) {
	fs, err := procfs.NewFS(root)
	if err != nil {
		return "", err
	}
	p, err := fs.Proc(pid)
	if err != nil {
		return "", err
	}
	return p.Comm()
}

// ResetPeakRSS resets the kernel's VmHWM of pid to its current RSS (writing 5
// to /proc/<pid>/clear_refs), so that the next peak is the peak of one phase.
func ResetPeakRSS(root string, pid int) error {
	return os.WriteFile(filepath.Join(root, fmt.Sprint(pid), "clear_refs"), []byte("5"), 0)
}

// MiB renders bytes as mebibytes with one decimal.
func MiB(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
