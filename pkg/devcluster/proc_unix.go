//go:build unix

package devcluster

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the child in its own process group (so a terminal's Ctrl-C
// reaches only rgd, which then stops the children in order) and, on Linux,
// asks the kernel to kill it when its parent dies.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setDeathSignal(cmd.SysProcAttr)
}

// signalGroup sends sig to the process group led by pid, falling back to the
// process alone.
func signalGroup(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pid, sig); err == nil {
		return nil
	}
	return syscall.Kill(pid, sig)
}

func terminate(cmd *exec.Cmd) error { return signalGroup(cmd.Process.Pid, syscall.SIGTERM) }

func kill(cmd *exec.Cmd) error { return signalGroup(cmd.Process.Pid, syscall.SIGKILL) }
