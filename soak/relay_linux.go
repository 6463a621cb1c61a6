package soak

import "syscall"

// childAttributes has the kernel kill the relay when the soak dies
// (PR_SET_PDEATHSIG, prctl(2)), so an interrupted soak leaves no relay
// behind.
func childAttributes() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
