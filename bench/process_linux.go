package bench

import "syscall"

// childAttributes makes the kernel SIGKILL the child when the thread that
// started it exits (PR_SET_PDEATHSIG, prctl(2)); the Go runtime keeps its
// threads for the life of the process (it ends a thread only when a goroutine
// exits while locked to it with LockOSThread, which neither this package nor
// loadtest does), so in practice: when this process dies.
func childAttributes() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
