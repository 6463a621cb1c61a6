package relayext

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/turnstile-relay/turnstile/internal/turnclient/turnclienttest"

	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/turnclient"
)

// TestGatewayLeavesPlainPeersAlone: on a relay with gateway, an allocation
// that uses no resource relays to an ordinary peer exactly as a plain relay
// does — over a channel, both ways — and never touches its gateway state:
// no verdict is counted, the session's lock-free "engaged" flag stays
// clear (so the inbound hook skips the allocation's lock), and the hooks
// on plain peers allocate nothing. The relay's side of the hooks is
// measured in package relay (a relay with an extension that passes).
func TestGatewayLeavesPlainPeersAlone(t *testing.T) {
	srv := newTestServer(t, withGateway(t, loopbackResources, loopbackResolver()))
	c := dialUser(t, srv, turnclient.UDP, "alice")
	if _, err := c.Allocate(turnclient.AllocateOptions{}); err != nil {
		t.Fatal(err)
	}
	peer := echoPeer(t)
	const channel = 0x4001
	if err := c.BindChannel(channel, peer); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := c.Send(peer, bytes.Repeat([]byte{0xAB}, 100)); err != nil {
			t.Fatal(err)
		}
		ev := turnclienttest.MustEvent(t, c, make([]byte, 2048))
		if ev.Data.Peer != peer || ev.Data.Channel != channel || len(ev.Data.Payload) != 100 {
			t.Fatalf("got %v %+v, want the echo from %v on channel %#x", ev.Kind, ev.Data, peer, channel)
		}
	}

	sess := srv.x.last(t)
	var client discardClient
	payload := bytes.Repeat([]byte{0xCD}, 100)
	now := mono.Now()
	if allocs := testing.AllocsPerRun(1000, func() {
		sess.Outbound(&client, peer, payload, now, 1)
		sess.Inbound(peer, now, 1)
	}); allocs != 0 {
		t.Fatalf("the hooks allocate %.1f times per datagram to and from a plain peer", allocs)
	}
	if sess.engaged.Load() {
		t.Fatal("the gateway session engaged for plain traffic")
	}
	if v := srv.Stats().ExtensionCounts; len(v) != 0 {
		t.Fatalf("verdicts counted for plain traffic: %v", v)
	}
}

// echoPeer is a UDP peer on 127.0.0.1 that sends every datagram back.
func echoPeer(t testing.TB) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			pc.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}
