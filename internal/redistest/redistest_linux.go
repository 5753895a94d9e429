package redistest

import "syscall"

// sysProcAttr makes the kernel kill redis-server when the test binary
// dies without running its cleanups (a -timeout panic, a SIGKILL), so no
// server outlives the test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
