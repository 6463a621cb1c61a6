package relay

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// Conformance of Send and Data indications and of ICMP forwarding
// (RFC 8656 §11).

// dualAllocation allocates IPv4 and IPv6 relayed addresses for c.
func dualAllocation(t testing.TB, c *rawClient) (relayed4, relayed6 netip.AddrPort) {
	t.Helper()
	m := c.allocateWith(func(b *stunmsg.Builder) {
		b.AddAddressFamily(stunmsg.AttrAdditionalAddressFamily, stunmsg.FamilyIPv6)
	})
	requireCode(t, m, 0)
	relayed := allXORAddrs(t, m, stunmsg.AttrXORRelayedAddress)
	if len(relayed) != 2 {
		t.Fatalf("%d relayed addresses, want 2", len(relayed))
	}
	return relayed[0], relayed[1]
}

// TestConformanceSendAndData: a Send indication's DATA leaves the relayed
// address of the peer's family as one datagram, and a peer's datagram comes
// back as a Data indication naming the peer, for IPv4 and IPv6 peers and a
// full-size payload (RFC 8656 §11.2, §11.3; §5: indications need no
// credentials).
func TestConformanceSendAndData(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	relayed4, relayed6 := dualAllocation(t, c)
	peer4 := newUDPPeerAt(t, "127.0.0.2:0")
	peer6 := newUDPPeer(t, "udp6")
	c.permit(peer4.addr(), peer6.addr())
	big := string(bytes.Repeat([]byte("0123456789abcdef"), 75))
	for _, tc := range []struct {
		name    string
		peer    *udpPeer
		relayed netip.AddrPort
		payload string
	}{
		{"IPv4 peer", peer4, relayed4, "hello over IPv4"},
		{"IPv6 peer", peer6, relayed6, "hello over IPv6"},
		{"1200-byte payload", peer4, relayed4, big},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t, tc.peer.t = t, t
			c.sendIndication(tc.peer.addr(), []byte(tc.payload), nil)
			requirePeerGot(t, tc.peer, tc.payload, tc.relayed)
			tc.peer.sendTo([]byte("re: "+tc.payload), tc.relayed)
			requireDataFrom(t, c, tc.peer, "re: "+tc.payload)
		})
	}
}

// TestConformanceSendDrops: a Send indication that cannot be relayed is
// discarded silently and counted (RFC 8656 §5, §11.2; RFC 8489 §6.3.2).
func TestConformanceSendDrops(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	c.allocate()
	peer := newUDPPeerAt(t, "127.0.0.2:0")
	c.permit(peer.addr())
	unpermitted := newUDPPeerAt(t, "127.0.0.3:0")
	stranger := newRawClient(t, srv.udp, "udp4")
	v4Family20 := xorAddressValue(netip.MustParseAddrPort("[::1]:4000"), newTxID(), true)
	v4Family20[1] = byte(stunmsg.FamilyIPv4)
	indication := func(from *rawClient, attrs msgBuilder) []byte {
		return from.build(stunmsg.Send, stunmsg.Indication, newTxID(), false, attrs)
	}
	peerAttr := func(b *stunmsg.Builder) { b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer.addr()) }
	dataAttr := func(b *stunmsg.Builder) { b.Add(stunmsg.AttrData, []byte("must not arrive")) }
	both := func(extra ...msgBuilder) msgBuilder {
		return func(b *stunmsg.Builder) {
			peerAttr(b)
			dataAttr(b)
			for _, e := range extra {
				e(b)
			}
		}
	}
	for _, tc := range []struct {
		name string
		in   []byte
		drop Drop
	}{
		{"no permission", indication(c, func(b *stunmsg.Builder) {
			b.AddXORAddress(stunmsg.AttrXORPeerAddress, unpermitted.addr())
			dataAttr(b)
		}), DropNoPermission},
		{"IPv6 peer on an IPv4 allocation", indication(c, func(b *stunmsg.Builder) {
			b.AddXORAddress(stunmsg.AttrXORPeerAddress, netip.MustParseAddrPort("[::1]:4000"))
			dataAttr(b)
		}), DropNoPermission},
		{"no DATA", indication(c, peerAttr), DropSendMalformed},
		{"no XOR-PEER-ADDRESS", indication(c, dataAttr), DropSendMalformed},
		{"zero-length XOR-PEER-ADDRESS", indication(c, func(b *stunmsg.Builder) {
			b.Add(stunmsg.AttrXORPeerAddress, nil)
			dataAttr(b)
		}), DropSendMalformed},
		{"IPv4 XOR-PEER-ADDRESS of 20 bytes", indication(c, func(b *stunmsg.Builder) {
			b.Add(stunmsg.AttrXORPeerAddress, v4Family20)
			dataAttr(b)
		}), DropSendMalformed},
		{"unknown comprehension-required attribute", indication(c, both(func(b *stunmsg.Builder) { b.Add(0x7777, []byte("?")) })), DropSendUnknownAttr},
		{"DONT-FRAGMENT on an allocation without DF", indication(c, both(func(b *stunmsg.Builder) { b.Add(stunmsg.AttrDontFragment, nil) })), DropSendDontFragment},
		{"5-tuple without allocation", indication(stranger, both()), DropNoAllocation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := c
			if tc.drop == DropNoAllocation {
				from = stranger
			}
			from.t, peer.t, unpermitted.t = t, t, t
			before := takeDrops(srv)
			from.sendRaw(tc.in)
			from.confirmNothingElse()
			before.requireDropped(t, srv, tc.drop, 1)
			peer.expectNothing()
			unpermitted.expectNothing()
		})
	}
}

// TestConformanceSendEmptyData: an empty DATA still sends one zero-length
// datagram (RFC 8656 §11.2), and a zero-length datagram from the peer
// arrives as a Data indication with an empty DATA (§11.3).
func TestConformanceSendEmptyData(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	relayed := c.allocate()
	peer := newUDPPeerAt(t, "127.0.0.2:0")
	c.permit(peer.addr())
	c.sendIndication(peer.addr(), []byte{}, nil)
	requirePeerGot(t, peer, "", relayed)
	peer.sendTo(nil, relayed)
	requireDataFrom(t, c, peer, "")
}

// TestConformanceSendDontFragment: on an allocation made with DONT-FRAGMENT
// the attribute in a Send indication is honoured, not a reason to drop
// (RFC 8656 §7.2 step 4, §11.2).
func TestConformanceSendDontFragment(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	m := c.allocateWith(func(b *stunmsg.Builder) { b.Add(stunmsg.AttrDontFragment, nil) })
	requireCode(t, m, 0)
	relayed := xorAddr(t, m, stunmsg.AttrXORRelayedAddress)
	peer := newUDPPeerAt(t, "127.0.0.2:0")
	c.permit(peer.addr())
	c.sendIndication(peer.addr(), []byte("DF set"), func(b *stunmsg.Builder) { b.Add(stunmsg.AttrDontFragment, nil) })
	requirePeerGot(t, peer, "DF set", relayed)
}

// TestConformanceDataDoesNotRefresh: relayed data in either direction, by
// indication or ChannelData, never refreshes the allocation (RFC 8656 §6).
func TestConformanceDataDoesNotRefresh(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	relayed := c.allocate()
	peer := newUDPPeerAt(t, "127.0.0.2:0")
	c.bind(0x4000, peer.addr())
	a := lookupAllocation(srv, c.fiveTuple())
	expires := a.Expires()
	c.sendIndication(peer.addr(), []byte("one"), nil)
	requirePeerGot(t, peer, "one", relayed)
	c.sendRaw(channelData(0x4000, []byte("two")))
	requirePeerGot(t, peer, "two", relayed)
	peer.sendTo([]byte("three"), relayed)
	requireChannelDataFrom(t, c, 0x4000, "three")
	if a.Expires() != expires {
		t.Fatal("relayed data moved the allocation's expiry")
	}
}

// closedUDPPort returns a loopback address with no UDP socket behind it, so
// that sending there draws an ICMP port unreachable from the kernel.
func closedUDPPort(t testing.TB, network, addr string) netip.AddrPort {
	t.Helper()
	c, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	ap := c.LocalAddr().(*net.UDPAddr).AddrPort()
	c.Close()
	return ap
}

// requireICMPIndication waits for a Data indication carrying ICMP
// (RFC 8656 §11.5): XOR-PEER-ADDRESS is the peer the relay sent to, ICMP has
// the expected type and code, and there is no DATA (§18.4, §18.13).
func requireICMPIndication(t testing.TB, c *rawClient, peer netip.AddrPort, typ, code uint8) {
	t.Helper()
	var m stunmsg.Message
	if err := m.Parse(c.recvFromPeer()); err != nil || m.Method != stunmsg.Data || m.Class != stunmsg.Indication {
		t.Fatalf("expected a Data indication (%v)", err)
	}
	if got := xorAddr(t, &m, stunmsg.AttrXORPeerAddress); got != peer {
		t.Fatalf("ICMP indication XOR-PEER-ADDRESS %s, want %s", got, peer)
	}
	v, ok := m.Get(stunmsg.AttrICMP)
	if !ok {
		t.Fatal("Data indication without ICMP")
	}
	gotType, gotCode, _, ok := stunmsg.DecodeICMP(v)
	if !ok || gotType != typ || gotCode != code {
		t.Fatalf("ICMP type %d code %d, want %d/%d", gotType, gotCode, typ, code)
	}
	if m.Contains(stunmsg.AttrData) {
		t.Fatal("ICMP Data indication carries DATA (RFC 8656 §18.4)")
	}
}

// TestConformanceICMPForwarded: a port unreachable for a datagram the relay
// sent to a permitted peer reaches the client as a Data indication with
// XOR-PEER-ADDRESS and ICMP, over IPv4 and IPv6, also when the datagram went
// over a channel (RFC 8656 §11.5, §12.5). Loopback ICMP is not rate limited
// by Linux.
func TestConformanceICMPForwarded(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	dualAllocation(t, c)
	closed4 := closedUDPPort(t, "udp4", "127.0.0.1:0")
	closed6 := closedUDPPort(t, "udp6", "[::1]:0")
	c.permit(closed4, closed6)
	t.Run("IPv4 Send", func(t *testing.T) {
		c.t = t
		c.sendIndication(closed4, []byte("nobody listens"), nil)
		requireICMPIndication(t, c, closed4, 3, 3)
	})
	t.Run("IPv6 Send", func(t *testing.T) {
		c.t = t
		c.sendIndication(closed6, []byte("nobody listens"), nil)
		requireICMPIndication(t, c, closed6, 1, 4)
	})
	t.Run("IPv4 ChannelData", func(t *testing.T) {
		c.t = t
		c.bind(0x4000, closed4)
		c.sendRaw(channelData(0x4000, []byte("nobody listens")))
		requireICMPIndication(t, c, closed4, 3, 3)
	})
}
