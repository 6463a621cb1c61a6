package xdp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/pion/logging"
	"github.com/pion/turn/v3"
	"golang.org/x/sys/unix"

	"github.com/turnstile-relay/turnstile/config"
	"github.com/turnstile-relay/turnstile/internal/mono/monotest"
	"github.com/turnstile-relay/turnstile/internal/turnclient"
	"github.com/turnstile-relay/turnstile/internal/wiring"
	"github.com/turnstile-relay/turnstile/relay"
)

// The end-to-end test's world: four namespaces the test creates, joined by
// veth pairs through a router (which forwards), so every packet reaches the
// relay's interface as it would from the network.
//
//	client c0 10.0.1.2  fd00:1::2 ── r1 router r2 ── x0 relay 10.0.2.2 fd00:2::2
//	                                     r3
//	                                      └── p0 peer 10.0.3.2 fd00:3::2
//
// The program runs natively on x0. Transmit checksum offload is off on c0
// and p0, where the datagrams are made: a veth otherwise hands the router,
// and so x0's XDP program, datagrams whose UDP checksum is still partial.
// XDP_TX on a veth needs NAPI on the other end; GRO on r2 gives it one.
// Forwarding is on for x0 in the relay's namespace, the test's own: the
// kernel answers XDP FIB lookups only there (docs/xdp.md).
const e2eChildEnv = "TURNSTILE_XDP_E2E_NAMESPACES"

// TestEndToEndThroughNamespaces: a TURN client relays ChannelData through
// the fast path to a peer and back, IPv4 and IPv6, with no loss and the
// relay's datapath="xdp" counts proving the kernel relayed it; a lapsed
// permission stops data at once; an ICMP port unreachable from the peer's
// host still reaches the client. Root and iproute2 are needed; under CI
// their absence fails the test.
func TestEndToEndThroughNamespaces(t *testing.T) {
	if names := os.Getenv(e2eChildEnv); names != "" {
		endToEndInsideRelayNamespace(t, strings.Split(names, ","))
		return
	}
	ip := requireIP(t)
	if os.Geteuid() != 0 {
		if inCI() {
			t.Fatalf("the namespaces need root (uid %d)", os.Geteuid())
		}
		t.Skip("the namespaces need root")
	}
	client, router, relayNS, peer := buildEndToEndTopology(t, ip)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ip, "netns", "exec", relayNS, os.Args[0],
		"-test.run=^TestEndToEndThroughNamespaces$", "-test.v", "-test.count=1", "-test.timeout=80s")
	cmd.Env = append(os.Environ(), e2eChildEnv+"="+strings.Join([]string{client, router, peer}, ","))
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestEndToEndThroughNamespaces")) {
		t.Fatalf("the test inside namespace %s failed (%v):\n%s", relayNS, err, out)
	}
	t.Logf("inside the namespace:\n%s", out)
}

func buildEndToEndTopology(t *testing.T, ip string) (client, router, relayNS, peer string) {
	t.Helper()
	var suffix [3]byte
	rand.Read(suffix[:])
	base := fmt.Sprintf("tsxdp-%d-%s", os.Getpid(), hex.EncodeToString(suffix[:]))
	client, router, relayNS, peer = base+"-c", base+"-g", base+"-r", base+"-p"
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{client, router, relayNS, peer} {
		run("netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command(ip, "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("removing namespace %s: %v\n%s", ns, err, out)
			}
		})
		run("netns", "exec", ns, "sh", "-c", "echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad")
		run("-n", ns, "link", "set", "lo", "up")
	}
	for _, l := range []struct{ ns, dev, peerDev, v4, v6, gw4, gw6, rv4, rv6 string }{
		{client, "c0", "r1", "10.0.1.2/24", "fd00:1::2/64", "10.0.1.1", "fd00:1::1", "10.0.1.1/24", "fd00:1::1/64"},
		{relayNS, "x0", "r2", "10.0.2.2/24", "fd00:2::2/64", "10.0.2.1", "fd00:2::1", "10.0.2.1/24", "fd00:2::1/64"},
		{peer, "p0", "r3", "10.0.3.2/24", "fd00:3::2/64", "10.0.3.1", "fd00:3::1", "10.0.3.1/24", "fd00:3::1/64"},
	} {
		run("-n", l.ns, "link", "add", l.dev, "type", "veth", "peer", "name", l.peerDev, "netns", router)
		run("-n", l.ns, "addr", "add", l.v4, "dev", l.dev)
		run("-n", l.ns, "addr", "add", l.v6, "dev", l.dev, "nodad")
		run("-n", router, "addr", "add", l.rv4, "dev", l.peerDev)
		run("-n", router, "addr", "add", l.rv6, "dev", l.peerDev, "nodad")
		run("-n", l.ns, "link", "set", l.dev, "up")
		run("-n", router, "link", "set", l.peerDev, "up")
		run("-n", l.ns, "route", "add", "default", "via", l.gw4)
		run("-n", l.ns, "-6", "route", "add", "default", "via", l.gw6)
	}
	run("netns", "exec", router, "sh", "-c",
		"echo 1 > /proc/sys/net/ipv4/ip_forward && echo 1 > /proc/sys/net/ipv6/conf/all/forwarding")
	run("netns", "exec", relayNS, "sh", "-c",
		"echo 1 > /proc/sys/net/ipv4/conf/x0/forwarding && echo 1 > /proc/sys/net/ipv6/conf/x0/forwarding")
	return client, router, relayNS, peer
}

// inNamespace runs fn on a thread that joined namespace ns (by its name
// under /run/netns); sockets fn opens belong to ns. The thread is retired
// afterwards (its goroutine exits locked).
func inNamespace(ns string, fn func() error) error {
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

// ethtoolSet sets one legacy ethtool flag (struct ethtool_value) of an
// interface in the calling thread's namespace.
func ethtoolSet(ifname string, cmd, value uint32) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	v := struct{ cmd, data uint32 }{cmd, value}
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
		return fmt.Errorf("SIOCETHTOOL %#x on %s: %w", cmd, ifname, errno)
	}
	runtime.KeepAlive(&v)
	return nil
}

const ethtoolSetTxCsum = 0x17 // ETHTOOL_STXCSUM

// attachPassProgram attaches an XDP program that passes every frame to
// ifname in namespace ns: a veth delivers what its peer sends with XDP_TX
// only when it runs XDP itself (its NAPI), as Firezone's CI found.
func attachPassProgram(t *testing.T, ns, ifname string) link.Link {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.XDP,
		License:      "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, xdpPass), asm.Return()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close() // the link holds it
	var l link.Link
	if err := inNamespace(ns, func() error {
		ifc, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifc.Index, Flags: link.XDPDriverMode})
		return err
	}); err != nil {
		t.Fatalf("attaching the pass program to %s: %v", ifname, err)
	}
	return l
}

func endToEndInsideRelayNamespace(t *testing.T, names []string) {
	clientNS, routerNS, peerNS := names[0], names[1], names[2]
	for _, s := range []struct{ ns, dev string }{{clientNS, "c0"}, {peerNS, "p0"}} {
		if err := inNamespace(s.ns, func() error { return ethtoolSet(s.dev, ethtoolSetTxCsum, 0) }); err != nil {
			t.Fatalf("transmit checksum offload off: %v", err)
		}
	}
	passAll := attachPassProgram(t, routerNS, "r2")
	defer passAll.Close()

	cfg, err := config.Load([]string{
		"TURNSTILE_UDP_LISTEN=10.0.2.2:3478,[fd00:2::2]:3478",
		"TURNSTILE_RELAY_IPS=10.0.2.2,fd00:2::2",
		"TURNSTILE_USERS=alice:secret-password",
		"TURNSTILE_PEER_ALLOW=10.0.3.0/24,fd00:3::/64",
		"TURNSTILE_METRICS_LISTEN=",
		"TURNSTILE_XDP=native",
		// coturn's uclient draws channels from RFC 5766's range.
		"TURNSTILE_LEGACY_CHANNELS=true",
	})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rc, _, err := wiring.Relay(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	off, err := Start(Config{
		Mode:    ModeNative,
		Addrs:   []netip.Addr{netip.MustParseAddr("10.0.2.2"), netip.MustParseAddr("fd00:2::2")},
		Program: ProgramConfig{ListenPorts: []uint16{3478}, ChannelMax: ChannelMax(cfg.LegacyChannels), MaxBindings: 64},
		Log:     log,
	})
	if err != nil {
		t.Fatal(err)
	}
	clock := monotest.New(time.Now())
	rc.Clock = clock
	rc.Observer = off
	srv, err := relay.New(rc)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Close()
		if err := off.Close(); err != nil {
			t.Error(err)
		}
	}()

	// Every frame the relay's interface sends towards the router, the
	// program's XDP_TX frames among them, is captured on the router's side
	// and its checksums recomputed once the clients are done.
	capture := startCapture(t, routerNS, "r2")
	statsBefore := srv.Stats()
	for _, fam := range []struct {
		name   string
		server netip.AddrPort
		peer   netip.Addr
		family turnclient.Family
	}{
		{"IPv4", netip.MustParseAddrPort("10.0.2.2:3478"), netip.MustParseAddr("10.0.3.2"), turnclient.FamilyIPv4},
		{"IPv6", netip.MustParseAddrPort("[fd00:2::2]:3478"), netip.MustParseAddr("fd00:3::2"), turnclient.FamilyIPv6},
	} {
		t.Run(fam.name, func(t *testing.T) {
			relayThroughTheKernel(t, srv, off, clock, clientNS, peerNS, fam.server, fam.peer)
		})
	}
	t.Run("pion", func(t *testing.T) { pionThroughTheKernel(t, srv, clientNS, peerNS) })
	t.Run("uclient", func(t *testing.T) { uclientThroughTheKernel(t, srv, clientNS, peerNS) })
	t.Run("checksums", func(t *testing.T) {
		frames := capture.finish(t)
		offloaded := offloadedTotal(srv.Stats()) - offloadedTotal(statsBefore)
		checkCapturedChecksums(t, frames, offloaded)
	})
}

// pionThroughTheKernel: pion/turn v3's client binds its channel in the
// background after its first Send indications; once its ChannelData flows,
// 50 round trips more are relayed by the kernel both ways, every one.
func pionThroughTheKernel(t *testing.T, srv *relay.Server, clientNS, peerNS string) {
	var peerConn, clientConn net.PacketConn
	if err := inNamespace(peerNS, func() (err error) {
		peerConn, err = net.ListenPacket("udp4", "10.0.3.2:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer peerConn.Close()
	go func() { // echo
		buf := make([]byte, 1500)
		for {
			n, from, err := peerConn.ReadFrom(buf)
			if err != nil {
				return
			}
			peerConn.WriteTo(buf[:n], from)
		}
	}()
	if err := inNamespace(clientNS, func() (err error) {
		clientConn, err = net.ListenPacket("udp4", "10.0.1.2:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	conn := &channelDataCounter{PacketConn: clientConn}
	client, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: "10.0.2.2:3478",
		Conn:           conn,
		Username:       "alice",
		Password:       "secret-password",
		Realm:          "turnstile",
		LoggerFactory:  logging.NewDefaultLoggerFactory(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	relayConn, err := client.Allocate()
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	defer relayConn.Close()
	buf := make([]byte, 1500)
	roundTrip := func(i int) {
		t.Helper()
		msg := []byte(fmt.Sprintf("pion round trip %d", i))
		if _, err := relayConn.WriteTo(msg, peerConn.LocalAddr()); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		relayConn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := relayConn.ReadFrom(buf)
		if err != nil || !bytes.Equal(buf[:n], msg) {
			t.Fatalf("round trip %d: %q, %v", i, buf[:n], err)
		}
	}
	i := 0
	for ; !conn.flowed(3); i++ {
		if i == 2000 {
			t.Fatalf("pion's ChannelData never flowed (sent %d, received %d)", conn.sent.Load(), conn.received.Load())
		}
		roundTrip(i)
	}
	before := srv.Stats()
	const rounds = 50
	for j := range rounds {
		roundTrip(i + j)
	}
	after := srv.Stats()
	toPeer := after.OffloadedPackets["to_peer"]["udp"] - before.OffloadedPackets["to_peer"]["udp"]
	toClient := after.OffloadedPackets["to_client"]["udp"] - before.OffloadedPackets["to_client"]["udp"]
	if toPeer != rounds || toClient != rounds {
		t.Fatalf("the kernel relayed %d of pion's datagrams to the peer and %d back, want %d each; passed %v",
			toPeer, toClient, rounds, after.ObserverCounts["passed"])
	}
}

// channelDataCounter counts the ChannelData messages pion's client writes
// and reads (first two bits 01, RFC 8656 §12.4).
type channelDataCounter struct {
	net.PacketConn
	sent, received atomic.Uint64
}

func (c *channelDataCounter) flowed(n uint64) bool {
	return c.sent.Load() >= n && c.received.Load() >= n
}

func (c *channelDataCounter) WriteTo(b []byte, to net.Addr) (int, error) {
	if len(b) >= 4 && b[0]>>6 == 1 {
		c.sent.Add(1)
	}
	return c.PacketConn.WriteTo(b, to)
}

func (c *channelDataCounter) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := c.PacketConn.ReadFrom(b)
	if err == nil && n >= 4 && b[0]>>6 == 1 {
		c.received.Add(1)
	}
	return n, from, err
}

func relayThroughTheKernel(t *testing.T, srv *relay.Server, off *Offload, clock *monotest.Clock,
	clientNS, peerNS string, server netip.AddrPort, peerIP netip.Addr) {
	const rounds = 200
	var peerConn *net.UDPConn
	if err := inNamespace(peerNS, func() error {
		var err error
		peerConn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(peerIP, 0)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer peerConn.Close()
	peer := peerConn.LocalAddr().(*net.UDPAddr).AddrPort()

	var c *turnclient.Client
	if err := inNamespace(clientNS, func() error {
		var err error
		c, err = turnclient.Dial(context.Background(), turnclient.Config{
			Server: server, Username: "alice", Password: "secret-password", Timeout: 10 * time.Second,
		})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	alloc, err := c.Allocate(turnclient.AllocateOptions{RequestedFamily: turnclient.FamilyOf(peerIP)})
	if err != nil {
		t.Fatal(err)
	}
	relayed := alloc.Relayed[0]
	if err := c.BindChannel(0x4000, peer); err != nil {
		t.Fatal(err)
	}
	before := srv.Stats()

	// Client to peer and the peer's answer back, in windows of 10
	// datagrams: a burst larger than a veth's ring would be lost between
	// the namespaces whatever the relay does.
	buf := make([]byte, 2048)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const window = 10
	for w := 0; w < rounds; w += window {
		for i := w; i < w+window; i++ {
			if err := c.SendChannelData(0x4000, []byte(fmt.Sprintf("datagram %03d", i))); err != nil {
				t.Fatal(err)
			}
		}
		peerConn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for i := w; i < w+window; i++ {
			n, from, err := peerConn.ReadFromUDPAddrPort(buf)
			if err != nil {
				cs, _ := off.Counters()
				t.Fatalf("peer received %d of %d datagrams: %v; program counters %+v", i, rounds, err, cs)
			}
			if want := fmt.Sprintf("datagram %03d", i); from != relayed || string(buf[:n]) != want {
				t.Fatalf("peer received %q from %v, want %q from the relayed address %v", buf[:n], from, want, relayed)
			}
		}
		for i := w; i < w+window; i++ {
			if _, err := peerConn.WriteToUDPAddrPort([]byte(fmt.Sprintf("answer %03d", i)), relayed); err != nil {
				t.Fatal(err)
			}
		}
		for i := w; i < w+window; i++ {
			ev, err := c.Receive(ctx, buf)
			if err != nil {
				cs, _ := off.Counters()
				t.Fatalf("client received %d of %d answers: %v; program counters %+v", i, rounds, err, cs)
			}
			if want := fmt.Sprintf("answer %03d", i); ev.Kind != turnclient.EventData || ev.Data.Channel != 0x4000 || ev.Data.Peer != peer || string(ev.Data.Payload) != want {
				t.Fatalf("event %+v, want ChannelData 0x4000 from %v with %q", ev, peer, want)
			}
		}
	}
	after := srv.Stats()
	toPeer := after.OffloadedPackets["to_peer"]["udp"] - before.OffloadedPackets["to_peer"]["udp"]
	toClient := after.OffloadedPackets["to_client"]["udp"] - before.OffloadedPackets["to_client"]["udp"]
	if toPeer != rounds || toClient != rounds {
		t.Fatalf("the kernel relayed %d to the peer and %d to the client, want %d each; passed %v",
			toPeer, toClient, rounds, after.ObserverCounts["passed"])
	}

	// ICMP: a channel to a port nothing listens on; the peer's host answers
	// port unreachable to the relayed address, the program passes it (not
	// UDP), and the relayed socket's error queue hands it to the client.
	closed := netip.AddrPortFrom(peerIP, 9)
	if err := c.BindChannel(0x4001, closed); err != nil {
		t.Fatal(err)
	}
	if err := c.SendChannelData(0x4001, []byte("anyone there?")); err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := c.Receive(ctx, buf)
		if err != nil {
			t.Fatalf("no ICMP event: %v", err)
		}
		if ev.Kind == turnclient.EventICMP {
			if ev.ICMP.Peer.Addr() != closed.Addr() {
				t.Fatalf("ICMP about %v, want %v", ev.ICMP.Peer, closed)
			}
			break
		}
	}

	// The permission lapses (RFC 8656 §9: 300 s, under the relay's fake
	// clock); the relay's housekeeping removes the binding from the maps
	// and the userspace path refuses the data: the peer gets nothing more.
	clock.Advance(301 * time.Second)
	if err := c.SendChannelData(0x4000, []byte("after the permission")); err != nil {
		t.Fatal(err)
	}
	peerConn.SetReadDeadline(time.Now().Add(time.Second))
	if n, _, err := peerConn.ReadFromUDPAddrPort(buf); err == nil {
		t.Fatalf("the peer received %q after the permission lapsed", buf[:n])
	}
	if n := srv.Stats().OffloadedPackets["to_peer"]["udp"] - after.OffloadedPackets["to_peer"]["udp"]; n != 1 {
		// The ICMP probe went through the kernel; the lapsed datagram must not.
		t.Fatalf("the kernel relayed %d datagrams after the probe, want only the probe", n)
	}
}
