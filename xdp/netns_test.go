package xdp

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v3"

	"github.com/turnstile-relay/turnstile/config"
	"github.com/turnstile-relay/turnstile/internal/mono/monotest"
	"github.com/turnstile-relay/turnstile/internal/netnslab"
	"github.com/turnstile-relay/turnstile/internal/turnclient"
	"github.com/turnstile-relay/turnstile/internal/wiring"
	"github.com/turnstile-relay/turnstile/relay"
)

// The end-to-end test's world is internal/netnslab's: client, router,
// relay and peer namespaces joined by veth pairs through the router, so
// every packet reaches the relay's interface x0, where the program runs
// natively, as it would from the network. The parent process builds it;
// the child, inside the relay's namespace, prepares the datapath and runs
// the relay.
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
	world, err := netnslab.Build(ip, "tsxdp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := world.Close(); err != nil {
			t.Error(err)
		}
	})
	client, router, relayNS, peer := world.Client, world.Router, world.Relay, world.Peer
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

func endToEndInsideRelayNamespace(t *testing.T, names []string) {
	clientNS, routerNS, peerNS := names[0], names[1], names[2]
	// The parent built the world; the datapath's preparation happens here,
	// in the process that holds the pass program's link.
	world := netnslab.Topology{Client: clientNS, Router: routerNS, Peer: peerNS}
	passAll, err := world.PrepareDatapath()
	if err != nil {
		t.Fatal(err)
	}
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
	if err := netnslab.InNamespace(peerNS, func() (err error) {
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
	if err := netnslab.InNamespace(clientNS, func() (err error) {
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
	if err := netnslab.InNamespace(peerNS, func() error {
		var err error
		peerConn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(peerIP, 0)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer peerConn.Close()
	peer := peerConn.LocalAddr().(*net.UDPAddr).AddrPort()

	var c *turnclient.Client
	if err := netnslab.InNamespace(clientNS, func() error {
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
