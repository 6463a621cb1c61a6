package netio

import "golang.org/x/sys/unix"

// nonblocking makes a system call that cannot block (every socket call here
// passes MSG_DONTWAIT; epoll_wait is called with a zero timeout) without
// telling the Go scheduler that the thread entered a system call. The
// scheduler's entersyscall/exitsyscall pair costs more than a short send,
// and a thread seen inside a system call keeps the runtime's monitor thread
// (sysmon) waking every 20 µs to consider handing its P to another thread:
// measured as 5 % of the relay's CPU and a third of its context switches
// under a closed-loop load. A call that could wait must use unix.Syscall6.
func nonblocking(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, unix.Errno) {
	r, _, errno := unix.RawSyscall6(trap, a1, a2, a3, a4, a5, a6)
	return r, errno
}
