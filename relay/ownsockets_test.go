package relay

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/stunmsg"
	"github.com/turnstile-relay/turnstile/internal/turnclient/turnclienttest"
)

// TestOwnSocketsAreNeverPeers: with the peer policy allowing 127.0.0.0/8
// (the harness's, as an operator allowing the subnet the relay lives in),
// ChannelBind to the relay's UDP, TCP and TLS listeners and to its metrics
// port (Config.OwnServices) gets 403, and a Send indication carrying a
// Binding request to the UDP listener is dropped and counted instead of
// coming back as the relay's own answer (issue 15: TURN over TURN).
// CreatePermission to the relay's IP stays allowed (permissions are
// IP-only, RFC 8656 §9), and another allocation's relayed address — a port
// of the same IP — is still reachable.
func TestOwnSocketsAreNeverPeers(t *testing.T) {
	t.Parallel()
	metricsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { metricsLn.Close() })
	metricsAddr := metricsLn.Addr().(*net.TCPAddr).AddrPort()
	srv := newTestServer(t, func(c *Config) { c.OwnServices = []netip.AddrPort{metricsAddr} })

	c := newRawClient(t, srv.udp, "udp4")
	c.allocate()
	c.permit(srv.udp) // the relay's IP: allowed, data to its listener is not

	own := map[string]netip.AddrPort{"udp": srv.udp, "tcp": srv.tcp, "tls": srv.tls, "metrics": metricsAddr}
	ch := uint16(0x4000)
	for name, peer := range own {
		r := c.request(stunmsg.ChannelBind, func(b *stunmsg.Builder) {
			b.AddChannelNumber(ch)
			b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
		})
		if code := errorCode(r); code != 403 {
			t.Errorf("ChannelBind to the %s listener %v: code %d, want 403", name, peer, code)
		}
		ch++
	}

	before := takeDrops(srv)
	binding := encodeRaw(stunmsg.MessageType(stunmsg.Binding, stunmsg.Request), newTxID())
	c.sendIndication(srv.udp, binding, nil)
	for deadline := time.Now().Add(5 * time.Second); dropTotal(srv, DropPeerOwnSocket) == before[DropPeerOwnSocket]; {
		if b := c.recvRaw(20 * time.Millisecond); b != nil {
			t.Fatalf("the Send to the relay's own listener came back: % x", b)
		}
		if time.Now().After(deadline) {
			t.Fatal("no peer_own_socket drop counted for a Send to the relay's own listener")
		}
	}
	c.expectSilence()

	// Hairpin: another client's relayed address on the same IP is an
	// ordinary peer.
	other := newRawClient(t, srv.udp, "udp4")
	otherRelayed := other.allocate()
	other.permit(c.relayed)
	c.permit(otherRelayed)
	c.sendIndication(otherRelayed, []byte("hairpin"), nil)
	var m stunmsg.Message
	got := other.recvRaw(5 * time.Second)
	if err := m.Parse(got); err != nil || m.Method != stunmsg.Data {
		t.Fatalf("the other client got % x (%v); want a Data indication", got, err)
	}
	if data, _ := m.Get(stunmsg.AttrData); string(data) != "hairpin" {
		t.Fatalf("hairpin DATA %q", data)
	}
}

// TestOwnSocketsNotReachedThroughTheExtension: an extension that
// translates a peer to the relay's own listener (a gateway resource whose
// name resolves to the relay) does not get the datagram sent there: it is
// dropped and counted as peer_own_socket, and the listener answers nothing
// back to the client.
func TestOwnSocketsNotReachedThroughTheExtension(t *testing.T) {
	x := newStubExtension()
	srv := newTestServer(t, withExtension(x))
	c := newRawClient(t, srv.udp, "udp4")
	c.allocate()
	shown := newUDPPeer(t, "udp4")
	c.permit(shown.addr())
	x.mu.Lock()
	x.outbounds[shown.addr()] = OutboundVerdict{Action: OutboundSend, To: srv.udp}
	x.mu.Unlock()

	before := takeDrops(srv)
	binding := encodeRaw(stunmsg.MessageType(stunmsg.Binding, stunmsg.Request), newTxID())
	c.sendIndication(shown.addr(), binding, nil)
	turnclienttest.WaitUntil(t, "the translated datagram to be dropped", func() bool {
		return dropTotal(srv, DropPeerOwnSocket) > before[DropPeerOwnSocket]
	})
	c.expectSilence()
	shown.expectNothing()
}
