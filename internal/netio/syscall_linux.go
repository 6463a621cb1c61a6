package netio

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawCall makes a socket call that cannot block (every one here passes
// MSG_DONTWAIT) without telling the Go scheduler that the thread entered a
// system call. The
// scheduler's entersyscall/exitsyscall pair costs more than a short send,
// and a thread seen inside a system call keeps the runtime's monitor thread
// (sysmon) waking every 20 µs to consider handing its P to another thread:
// measured as 5 % of the relay's CPU and a third of its context switches
// under a closed-loop load. A call that could wait must use unix.Syscall6.
// The poller's non-blocking epoll_wait is raw too, which leaves a loop that
// never parks to yield by itself (Poller.Wait).
//
// The pointer arguments stay unsafe.Pointer until the call expression of
// the assembly function, where the compiler keeps their memory alive and
// in place; a uintptr parameter would not be adjusted if the goroutine's
// stack moved on the way.
func rawCall(trap, a1 uintptr, p2 unsafe.Pointer, a3, a4 uintptr, p5 unsafe.Pointer, a6 uintptr) (uintptr, unix.Errno) {
	r, _, errno := unix.RawSyscall6(trap, a1, uintptr(p2), a3, a4, uintptr(p5), a6)
	return r, errno
}

// The calls that set a relayed socket up and tear it down are quick too
// (UDP sockets: nothing to wait for), and an allocate/delete cycle makes a
// dozen of them; through unix.Socket and friends each is an
// entersyscall/exitsyscall pair that wakes sysmon. Each pointer is
// converted in the call expression of the assembly function.

func sysSocket(domain, typ, proto int) (int, error) {
	r, _, errno := unix.RawSyscall(unix.SYS_SOCKET, uintptr(domain), uintptr(typ), uintptr(proto))
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

func sysSetsockoptInt(fd, level, opt, value int) error {
	v := int32(value)
	_, _, errno := unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt),
		uintptr(unsafe.Pointer(&v)), unsafe.Sizeof(v), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func sysBind(fd int, sa *sockaddrBytes, salen uint32) error {
	_, _, errno := unix.RawSyscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(sa)), uintptr(salen))
	if errno != 0 {
		return errno
	}
	return nil
}

func sysGetsockname(fd int, sa *sockaddrBytes) (uint32, error) {
	salen := uint32(len(sa))
	_, _, errno := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(sa)), uintptr(unsafe.Pointer(&salen)))
	if errno != 0 {
		return 0, errno
	}
	return min(salen, uint32(len(sa))), nil
}

func sysEpollCtl(epfd, op, fd int, ev *unix.EpollEvent) error {
	_, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func sysClose(fd int) error {
	_, _, errno := unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
