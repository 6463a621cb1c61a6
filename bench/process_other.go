//go:build !linux

package bench

import "syscall"

// childAttributes has nothing to add outside Linux: servers are stopped
// explicitly only.
func childAttributes() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
