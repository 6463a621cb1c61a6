// Package netnstest moves a test's goroutine into a private network
// namespace and configures interfaces there, for tests of kernel-dependent
// socket behaviour (path MTU, error queues) that must not depend on the
// host's network. Only tests import it.
package netnstest

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// Enter moves the calling goroutine's thread into a new network
// namespace whose loopback is up with the given MTU, and returns a function
// that moves it back. Sockets opened on this goroutine in between belong to
// the namespace and keep working from any thread. The goroutine stays locked
// to its thread throughout; if the way back fails, it stays locked so the
// runtime retires the thread instead of reusing it elsewhere.
//
// Creating a namespace needs CAP_SYS_ADMIN; the test fails (it does not
// skip) without it, because the relay's tests depend on namespaces too.
func Enter(t testing.TB, loopbackMTU int) (leave func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("opening the current network namespace: %v", err)
	}
	leave = func() {
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			t.Errorf("returning to the original network namespace: %v", err)
			unix.Close(orig)
			return // the thread stays locked and dies with the goroutine
		}
		unix.Close(orig)
		runtime.UnlockOSThread()
	}
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		unix.Close(orig)
		runtime.UnlockOSThread()
		t.Fatalf("creating a network namespace (needs CAP_SYS_ADMIN, uid %d): %v", os.Getuid(), err)
	}
	if err := ConfigureInterface("lo", loopbackMTU, nil, nil); err != nil {
		leave()
		t.Fatalf("configuring lo in the namespace: %v", err)
	}
	return leave
}

// ConfigureInterface sets an interface's MTU (if mtu > 0), its IPv4 address
// and netmask (if addr is not nil) and brings it up, with the classic
// ioctls, in the namespace of the calling thread.
func ConfigureInterface(name string, mtu int, addr, mask []byte) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if mtu > 0 {
		ifr.SetUint32(uint32(mtu))
		if err := unix.IoctlIfreq(fd, unix.SIOCSIFMTU, ifr); err != nil {
			return os.NewSyscallError("SIOCSIFMTU", err)
		}
	}
	if addr != nil {
		if err := ifr.SetInet4Addr(addr); err != nil {
			return err
		}
		if err := unix.IoctlIfreq(fd, unix.SIOCSIFADDR, ifr); err != nil {
			return os.NewSyscallError("SIOCSIFADDR", err)
		}
		if err := ifr.SetInet4Addr(mask); err != nil {
			return err
		}
		if err := unix.IoctlIfreq(fd, unix.SIOCSIFNETMASK, ifr); err != nil {
			return os.NewSyscallError("SIOCSIFNETMASK", err)
		}
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return os.NewSyscallError("SIOCGIFFLAGS", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return os.NewSyscallError("SIOCSIFFLAGS", err)
	}
	return nil
}

// OpenTap creates a TAP interface in the calling thread's namespace and
// returns its file descriptor, which keeps the interface's carrier up.
// Frames the kernel sends out of it (ARP requests) wait in that descriptor
// and go nowhere.
func OpenTap(t *testing.T, name string) int {
	t.Helper()
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("opening /dev/net/tun: %v", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		t.Fatalf("TUNSETIFF %s: %v", name, err)
	}
	return fd
}
