package xdp

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/turnstile-relay/turnstile/internal/netnstest"
)

// inCI reports whether the tests run under CI (CI set to anything).
func inCI() bool { return os.Getenv("CI") != "" }

// requireBPF loads the program or ends the test: without the privilege to
// load BPF a local run skips, a CI run fails (docs/testing.md).
func requireBPF(t testing.TB, c ProgramConfig) *Program {
	t.Helper()
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Logf("raising RLIMIT_MEMLOCK: %v", err)
	}
	p, err := LoadProgram(c)
	if err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, ebpf.ErrNotSupported) {
			if inCI() {
				t.Fatalf("loading the XDP program under CI: %v", err)
			}
			t.Skipf("cannot load BPF here: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// requireIP returns the path of ip(8), skipping locally and failing under
// CI when iproute2 is missing.
func requireIP(t testing.TB) string {
	t.Helper()
	ip, err := exec.LookPath("ip")
	if err != nil {
		if inCI() {
			t.Fatalf("ip (iproute2) is missing under CI: %v", err)
		}
		t.Skipf("ip (iproute2) missing: %v", err)
	}
	return ip
}

// The table tests' world, inside a namespace of their own: the relay's
// interface relay0 (veth to relay1) holds the listener and relayed
// addresses; every client and peer is reached through one router whose
// neighbour entry is permanent, so the FIB answers without ARP.
var (
	relayMAC  = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	routerMAC = [6]byte{0x02, 0, 0, 0, 0, 0xfe}
)

// tableNamespace is the namespace of the table tests.
type tableNamespace struct {
	fd      int // open /proc/thread-self/ns/net of the namespace
	ifindex int // relay0
}

// join moves a subtest's goroutine (which runs on a thread of its own)
// into the namespace until the subtest ends: BPF_PROG_TEST_RUN resolves
// the ingress interface, and /proc/sys/net names interfaces, in the
// calling thread's namespace.
func (n *tableNamespace) join(t testing.TB) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
		unix.Close(orig)
		runtime.UnlockOSThread()
		t.Fatalf("joining the test namespace: %v", err)
	}
	t.Cleanup(func() {
		defer unix.Close(orig)
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			t.Errorf("leaving the test namespace: %v", err)
			return // the thread stays locked and dies with the goroutine
		}
		runtime.UnlockOSThread()
	})
}

// enterTableNamespace moves the test into a new namespace with that
// topology.
func enterTableNamespace(t testing.TB) *tableNamespace {
	t.Helper()
	ip := requireIP(t)
	leave := netnstest.Enter(t, 0)
	t.Cleanup(leave)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("link", "add", "relay0", "address", net.HardwareAddr(relayMAC[:]).String(), "type", "veth", "peer", "name", "relay1")
	run("link", "set", "relay0", "up")
	run("link", "set", "relay1", "up")
	run("addr", "add", "192.0.2.1/24", "dev", "relay0")
	run("addr", "add", "2001:db8::1/64", "dev", "relay0", "nodad")
	run("neigh", "replace", "192.0.2.254", "lladdr", net.HardwareAddr(routerMAC[:]).String(), "dev", "relay0", "nud", "permanent")
	run("neigh", "replace", "2001:db8::fe", "lladdr", net.HardwareAddr(routerMAC[:]).String(), "dev", "relay0", "nud", "permanent")
	run("route", "add", "default", "via", "192.0.2.254", "dev", "relay0")
	run("-6", "route", "add", "default", "via", "2001:db8::fe", "dev", "relay0")
	// The FIB answers XDP programs only on interfaces that forward; this
	// namespace is the test's own (the relay never sets it: docs/xdp.md).
	setForwarding(t, "relay0", true)
	ifc, err := net.InterfaceByName("relay0")
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return &tableNamespace{fd: fd, ifindex: ifc.Index}
}

func setForwarding(t testing.TB, ifname string, on bool) {
	t.Helper()
	v := []byte("0")
	if on {
		v = []byte("1")
	}
	for _, p := range []string{"/proc/sys/net/ipv4/conf/" + ifname + "/forwarding", "/proc/sys/net/ipv6/conf/" + ifname + "/forwarding"} {
		if err := os.WriteFile(p, v, 0); err != nil {
			t.Fatal(err)
		}
	}
}
