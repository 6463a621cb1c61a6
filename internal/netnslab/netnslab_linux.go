package netnslab

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// The world's addresses and interfaces:
//
//	client c0 10.0.1.2  fd00:1::2 ── r1 router r2 ── x0 relay 10.0.2.2 fd00:2::2
//	                                     r3
//	                                      └── p0 peer 10.0.3.2 fd00:3::2
const (
	ClientIPv4, ClientIPv6 = "10.0.1.2", "fd00:1::2"
	RelayIPv4, RelayIPv6   = "10.0.2.2", "fd00:2::2"
	PeerIPv4, PeerIPv6     = "10.0.3.2", "fd00:3::2"

	ClientIf = "c0" // the client's side of its veth pair
	RelayIf  = "x0" // the relay's side, where the XDP program runs
	PeerIf   = "p0" // the peer's side
	// RouterToRelayIf is the router's side of the relay's veth pair: it
	// receives what the program sends with XDP_TX.
	RouterToRelayIf = "r2"
)

// Topology names the four namespaces (entries under /run/netns) of one
// world. Close removes them.
type Topology struct {
	Client, Router, Relay, Peer string
	ip                          string
	created                     []string
}

// Build creates a world whose namespace names start with prefix and end
// with a random suffix, so parallel runs never collide. ip is the path of
// ip(8). On any failure the namespaces already made are removed before
// the error returns. Forwarding is turned on in the router and on x0 in
// the relay's namespace (the kernel answers XDP FIB lookups only for an
// interface that forwards, docs/xdp.md); all of it lives and dies with
// these namespaces, never the host's.
func Build(ip, prefix string) (*Topology, error) {
	var suffix [3]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return nil, err
	}
	base := fmt.Sprintf("%s-%d-%s", prefix, os.Getpid(), hex.EncodeToString(suffix[:]))
	t := &Topology{Client: base + "-c", Router: base + "-g", Relay: base + "-r", Peer: base + "-p", ip: ip}
	if err := t.build(); err != nil {
		if cerr := t.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, err
	}
	return t, nil
}

func (t *Topology) run(args ...string) error {
	if out, err := exec.Command(t.ip, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (t *Topology) build() error {
	var steps [][]string
	for _, ns := range []string{t.Client, t.Router, t.Relay, t.Peer} {
		if err := t.run("netns", "add", ns); err != nil {
			return err
		}
		t.created = append(t.created, ns)
		steps = append(steps,
			// Duplicate address detection would hold the IPv6 addresses
			// back for a second or more.
			[]string{"netns", "exec", ns, "sh", "-c", "echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad"},
			[]string{"-n", ns, "link", "set", "lo", "up"})
	}
	for _, l := range []struct{ ns, dev, peerDev, v4, v6, gw4, gw6, rv4, rv6 string }{
		{t.Client, ClientIf, "r1", ClientIPv4 + "/24", ClientIPv6 + "/64", "10.0.1.1", "fd00:1::1", "10.0.1.1/24", "fd00:1::1/64"},
		{t.Relay, RelayIf, RouterToRelayIf, RelayIPv4 + "/24", RelayIPv6 + "/64", "10.0.2.1", "fd00:2::1", "10.0.2.1/24", "fd00:2::1/64"},
		{t.Peer, PeerIf, "r3", PeerIPv4 + "/24", PeerIPv6 + "/64", "10.0.3.1", "fd00:3::1", "10.0.3.1/24", "fd00:3::1/64"},
	} {
		steps = append(steps,
			[]string{"-n", l.ns, "link", "add", l.dev, "type", "veth", "peer", "name", l.peerDev, "netns", t.Router},
			[]string{"-n", l.ns, "addr", "add", l.v4, "dev", l.dev},
			[]string{"-n", l.ns, "addr", "add", l.v6, "dev", l.dev, "nodad"},
			[]string{"-n", t.Router, "addr", "add", l.rv4, "dev", l.peerDev},
			[]string{"-n", t.Router, "addr", "add", l.rv6, "dev", l.peerDev, "nodad"},
			[]string{"-n", l.ns, "link", "set", l.dev, "up"},
			[]string{"-n", t.Router, "link", "set", l.peerDev, "up"},
			[]string{"-n", l.ns, "route", "add", "default", "via", l.gw4},
			[]string{"-n", l.ns, "-6", "route", "add", "default", "via", l.gw6})
	}
	steps = append(steps,
		[]string{"netns", "exec", t.Router, "sh", "-c",
			"echo 1 > /proc/sys/net/ipv4/ip_forward && echo 1 > /proc/sys/net/ipv6/conf/all/forwarding"},
		[]string{"netns", "exec", t.Relay, "sh", "-c",
			"echo 1 > /proc/sys/net/ipv4/conf/" + RelayIf + "/forwarding && echo 1 > /proc/sys/net/ipv6/conf/" + RelayIf + "/forwarding"})
	for _, s := range steps {
		if err := t.run(s...); err != nil {
			return err
		}
	}
	return nil
}

// Close removes every namespace Build made (their interfaces go with
// them), reporting each failure; it is safe to call twice.
func (t *Topology) Close() error {
	var errs []error
	for _, ns := range t.created {
		if err := t.run("netns", "del", ns); err != nil {
			errs = append(errs, fmt.Errorf("removing namespace %s: %w", ns, err))
		}
	}
	t.created = nil
	return errors.Join(errs...)
}

// PrepareDatapath readies the world for the program: transmit checksum
// offload off on c0 and p0, where the datagrams are made (a veth
// otherwise hands the router, and so x0's program, datagrams whose UDP
// checksum is still partial), and an XDP program passing every frame on
// r2 (a veth delivers its peer's XDP_TX frames only when it runs XDP
// itself, for its NAPI). Closing the returned link detaches the latter;
// removing the namespaces does too.
func (t *Topology) PrepareDatapath() (link.Link, error) {
	for _, s := range []struct{ ns, dev string }{{t.Client, ClientIf}, {t.Peer, PeerIf}} {
		if err := InNamespace(s.ns, func() error { return SetTxChecksum(s.dev, false) }); err != nil {
			return nil, fmt.Errorf("transmit checksum offload off on %s: %w", s.dev, err)
		}
	}
	return AttachPassProgram(t.Router, RouterToRelayIf)
}

// InNamespace runs fn on a thread that joined namespace ns (by its name
// under /run/netns); sockets fn opens belong to ns and keep working from
// any thread. The thread is retired afterwards (its goroutine exits
// locked), so no other goroutine ever runs in ns by accident.
func InNamespace(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("joining %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

const ethtoolSetTxCsum = 0x17 // ETHTOOL_STXCSUM

// SetTxChecksum turns an interface's transmit checksum offload on or off
// (the legacy ethtool_value ioctl) in the calling thread's namespace.
func SetTxChecksum(ifname string, on bool) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	v := struct{ cmd, data uint32 }{cmd: ethtoolSetTxCsum}
	if on {
		v.data = 1
	}
	ifr, err := unix.NewIfreq(ifname)
	if err != nil {
		return err
	}
	// struct ifreq's union holds a pointer to the ethtool command.
	req := struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [16]byte
	}{data: unsafe.Pointer(&v)}
	copy(req.name[:], ifr.Name())
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&req))); errno != 0 {
		return fmt.Errorf("SIOCETHTOOL %#x on %s: %w", v.cmd, ifname, errno)
	}
	runtime.KeepAlive(&v)
	return nil
}

const xdpPass = 2 // enum xdp_action's XDP_PASS

// AttachPassProgram attaches, in native mode, an XDP program passing
// every frame to ifname in namespace ns.
func AttachPassProgram(ns, ifname string) (link.Link, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.XDP,
		License:      "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, xdpPass), asm.Return()},
	})
	if err != nil {
		return nil, err
	}
	defer prog.Close() // the link holds it
	var l link.Link
	if err := InNamespace(ns, func() error {
		ifc, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifc.Index, Flags: link.XDPDriverMode})
		return err
	}); err != nil {
		return nil, fmt.Errorf("attaching the pass program to %s: %w", ifname, err)
	}
	return l, nil
}
