//go:build !linux

package soak

import "syscall"

// childAttributes: only Linux can tie the relay's life to the soak's; the
// soak reads /proc and runs on Linux anyway.
func childAttributes() *syscall.SysProcAttr { return nil }
