//go:build unix && !linux

package devcluster

import "syscall"

// setDeathSignal does nothing: parent-death signals exist only on Linux.
func setDeathSignal(*syscall.SysProcAttr) {}
