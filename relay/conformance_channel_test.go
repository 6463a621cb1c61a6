package relay

import (
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// Conformance of channels (RFC 8656 §12).

// channelBindReq is the attribute builder of a ChannelBind.
func channelBindReq(ch uint16, peer netip.AddrPort) msgBuilder {
	return func(b *stunmsg.Builder) {
		b.AddChannelNumber(ch)
		b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
	}
}

// requireChannelDataFrom waits for the next datagram forwarded to c and
// requires ChannelData on ch carrying payload (RFC 8656 §12.7).
func requireChannelDataFrom(t testing.TB, c *rawClient, ch uint16, payload string) {
	t.Helper()
	got, data := parseChannelDataUDP(t, c.recvFromPeer())
	if got != ch || string(data) != payload {
		t.Fatalf("ChannelData %#04x %q, want %#04x %q", got, data, ch, payload)
	}
}

// requirePeerGot waits for one datagram at p and checks payload and source.
func requirePeerGot(t testing.TB, p *udpPeer, payload string, from netip.AddrPort) {
	t.Helper()
	got, src := p.mustRecv()
	if string(got) != payload || src != from {
		t.Fatalf("peer got %q from %s, want %q from %s", got, src, payload, from)
	}
}

// TestConformanceChannelBindNumbers: only 0x4000–0x4FFF can be bound; the
// STUN range and the RFC 7983 reserved range are 400 (RFC 8656 §12,
// §12.2).
func TestConformanceChannelBindNumbers(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	c.allocate()
	for i, tc := range []struct {
		ch   uint16
		code int
	}{
		{0x0000, 400}, {0x3FFF, 400}, {0x4000, 0}, {0x4FFF, 0},
		{0x5000, 400}, {0x7FFF, 400}, {0x8000, 400}, {0xFFFF, 400},
	} {
		peer := netip.AddrPortFrom(loopback4, uint16(20000+i))
		m := c.request(stunmsg.ChannelBind, channelBindReq(tc.ch, peer))
		if errorCode(m) != tc.code {
			t.Fatalf("ChannelBind %#04x: code %d, want %d", tc.ch, errorCode(m), tc.code)
		}
		requireIntegrity(t, m, c.key)
		requireSoftware(t, m)
	}
}

// TestConformanceChannelBindLegacyRange: with the operator's opt-in the
// RFC 5766 numbers 0x5000–0x7FFF bind and carry ChannelData both ways;
// 0x8000 and up stay refused (RFC 8656 §12).
func TestConformanceChannelBindLegacyRange(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(c *Config) { c.LegacyChannels = true })
	c := newRawClient(t, srv.udp, "udp4")
	relayed := c.allocate()
	peer := newUDPPeerAt(t, "127.0.0.2:0")
	c.bind(0x5000, peer.addr())
	requireCode(t, c.request(stunmsg.ChannelBind, channelBindReq(0x7FFF, netip.MustParseAddrPort("127.0.0.3:9"))), 0)
	requireCode(t, c.request(stunmsg.ChannelBind, channelBindReq(0x8000, netip.MustParseAddrPort("127.0.0.4:9"))), 400)
	c.sendRaw(channelDataRaw(0x5000, []byte("legacy")))
	requirePeerGot(t, peer, "legacy", relayed)
	peer.sendTo([]byte("legacy back"), relayed)
	requireChannelDataFrom(t, c, 0x5000, "legacy back")
}

// TestConformanceChannelBindRules: ChannelBind attribute checks and the
// one-to-one mapping between numbers and peers (RFC 8656 §12.2).
func TestConformanceChannelBindRules(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	c.allocate()
	a := netip.MustParseAddrPort("127.0.0.2:5000")
	b := netip.MustParseAddrPort("127.0.0.3:5000")
	c.bind(0x4001, a)
	mappedA := func(txid [12]byte) msgBuilder {
		return func(bd *stunmsg.Builder) {
			bd.AddChannelNumber(0x4001)
			bd.Add(stunmsg.AttrXORPeerAddress, xorAddressValue(a, txid, true))
		}
	}
	for _, tc := range []struct {
		name  string
		attrs func(txid [12]byte) msgBuilder
		code  int
	}{
		{"same number, other peer", func([12]byte) msgBuilder { return channelBindReq(0x4001, b) }, 400},
		{"same peer, other number", func([12]byte) msgBuilder { return channelBindReq(0x4002, a) }, 400},
		{"same peer on another port is another peer", func([12]byte) msgBuilder {
			return channelBindReq(0x4001, netip.AddrPortFrom(a.Addr(), a.Port()+1))
		}, 400},
		{"rebind the same pair", func([12]byte) msgBuilder { return channelBindReq(0x4001, a) }, 0},
		{"rebind with the IPv4-mapped form of the peer", mappedA, 0},
		{"no CHANNEL-NUMBER", func([12]byte) msgBuilder {
			return func(bd *stunmsg.Builder) { bd.AddXORAddress(stunmsg.AttrXORPeerAddress, b) }
		}, 400},
		{"no XOR-PEER-ADDRESS", func([12]byte) msgBuilder {
			return func(bd *stunmsg.Builder) { bd.AddChannelNumber(0x4003) }
		}, 400},
		{"CHANNEL-NUMBER of 2 bytes", func([12]byte) msgBuilder {
			return func(bd *stunmsg.Builder) {
				bd.Add(stunmsg.AttrChannelNumber, []byte{0x40, 0x03})
				bd.AddXORAddress(stunmsg.AttrXORPeerAddress, b)
			}
		}, 400},
		{"zero-length XOR-PEER-ADDRESS", func([12]byte) msgBuilder {
			return func(bd *stunmsg.Builder) {
				bd.AddChannelNumber(0x4003)
				bd.Add(stunmsg.AttrXORPeerAddress, nil)
			}
		}, 400},
		{"IPv6 peer on an IPv4 allocation", func([12]byte) msgBuilder {
			return channelBindReq(0x4003, netip.MustParseAddrPort("[::1]:5000"))
		}, 443},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			txid := newTxID()
			m := c.authedTx(stunmsg.ChannelBind, txid, tc.attrs(txid))
			requireCode(t, m, tc.code)
			requireIntegrity(t, m, c.key)
		})
	}
}

// TestConformanceChannelBindCapacity: beyond the per-allocation channel
// limit ChannelBind is 508 (RFC 8656 §12.2).
func TestConformanceChannelBindCapacity(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, withAllocationConfig(func(a *allocation.Config) { a.MaxChannels = 1 }))
	c := newRawClient(t, srv.udp, "udp4")
	c.allocate()
	c.bind(0x4000, netip.MustParseAddrPort("127.0.0.2:5000"))
	m := c.request(stunmsg.ChannelBind, channelBindReq(0x4001, netip.MustParseAddrPort("127.0.0.3:5000")))
	requireCode(t, m, 508)
	requireIntegrity(t, m, c.key)
}

// TestConformanceChannelBindImpliesPermission: a binding installs the
// permission for the peer's IP; the bound peer's data arrives as ChannelData,
// another port of the same IP (permitted, not bound) as a Data indication,
// and the client may mix ChannelData and Send (RFC 8656 §11.3, §12.2,
// §12.7).
func TestConformanceChannelBindImpliesPermission(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	relayed := c.allocate()
	bound := newUDPPeerAt(t, "127.0.0.2:0")
	sameIP := newUDPPeerAt(t, "127.0.0.2:0")
	c.bind(0x4000, bound.addr())

	bound.sendTo([]byte("via channel"), relayed)
	requireChannelDataFrom(t, c, 0x4000, "via channel")
	sameIP.sendTo([]byte("via indication"), relayed)
	requireDataFrom(t, c, sameIP, "via indication")

	c.sendRaw(channelData(0x4000, []byte("channel data")))
	requirePeerGot(t, bound, "channel data", relayed)
	c.sendIndication(bound.addr(), []byte("send indication"), nil)
	requirePeerGot(t, bound, "send indication", relayed)
	bound.sendTo([]byte("still the channel"), relayed)
	requireChannelDataFrom(t, c, 0x4000, "still the channel")
}

// TestConformanceChannelDataDrops: ChannelData that cannot be relayed is
// dropped silently and counted: unbound channel, Length beyond the datagram,
// shorter than a header, reserved number, no allocation (RFC 8656 §5,
// §12.6).
func TestConformanceChannelDataDrops(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	c.allocate()
	peer := newUDPPeerAt(t, "127.0.0.2:0")
	c.bind(0x4000, peer.addr())
	stranger := newRawClient(t, srv.udp, "udp4")
	tooLong := channelData(0x4000, []byte("0123456789"))
	tooLong[3] = 100
	for _, tc := range []struct {
		name string
		from *rawClient
		in   []byte
		drop Drop
	}{
		{"unbound channel", c, channelData(0x4001, []byte("nobody")), DropChannelUnbound},
		{"Length beyond the datagram", c, tooLong, DropChannelDataMalformed},
		{"shorter than the header", c, []byte{0x40, 0x00, 0x00}, DropChannelDataMalformed},
		{"reserved channel number", c, channelDataRaw(0x5000, []byte("reserved")), DropNotTURN},
		{"5-tuple without allocation", stranger, channelData(0x4000, []byte("stranger")), DropNoAllocation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.from.t = t
			before := takeDrops(srv)
			tc.from.sendRaw(tc.in)
			tc.from.confirmNothingElse()
			before.requireDropped(t, srv, tc.drop, 1)
			peer.t = t
			peer.expectNothing()
		})
	}
}

// TestConformanceChannelDataPaddingOverUDP: padding after Length is allowed
// over UDP and ignored, whatever its bytes (RFC 8656 §12.5, §12.6).
func TestConformanceChannelDataPaddingOverUDP(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	relayed := c.allocate()
	peer := newUDPPeerAt(t, "127.0.0.2:0")
	c.bind(0x4000, peer.addr())
	c.sendRaw(append(channelData(0x4000, []byte("hello")), 0, 0, 0))
	requirePeerGot(t, peer, "hello", relayed)
	c.sendRaw(append(channelData(0x4000, []byte("world")), 0xFF, 0xFF, 0xFF))
	requirePeerGot(t, peer, "world", relayed)
}

// TestConformanceChannelDataZeroLength: Length 0 relays a zero-length
// datagram, and a zero-length datagram from the peer arrives as ChannelData
// with Length 0 (RFC 8656 §12.4, §12.6).
func TestConformanceChannelDataZeroLength(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	relayed := c.allocate()
	peer := newUDPPeerAt(t, "127.0.0.2:0")
	c.bind(0x4000, peer.addr())
	c.sendRaw(channelData(0x4000, nil))
	requirePeerGot(t, peer, "", relayed)
	peer.sendTo(nil, relayed)
	requireChannelDataFrom(t, c, 0x4000, "")
}

// TestConformanceChannelExpires: a binding lasts 600 s (RFC 8656 §12) and
// ChannelData does not refresh it; afterwards the number is unbound but
// neither it nor the peer may be rebound to something else for the reuse
// delay (§12.2), while rebinding the same pair works.
func TestConformanceChannelExpires(t *testing.T) {
	t.Parallel()
	srv, clock := newClockedServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	relayed := c.allocate()
	requireCode(t, c.request(stunmsg.Refresh, lifetimeAttr(3600)), 0) // outlive the channel
	peer := newUDPPeerAt(t, "127.0.0.2:0")
	c.bind(0x4000, peer.addr())
	// CreatePermission keeps the peer's permission (300 s) alive past the
	// channel's end, so only the channel lapses; it does not touch the
	// channel.
	for range 3 {
		c.permit(peer.addr())
		c.sendRaw(channelData(0x4000, []byte("keep")))
		requirePeerGot(t, peer, "keep", relayed)
		clock.Advance(199 * time.Second)
	}
	c.permit(peer.addr())
	clock.Advance(3 * time.Second) // 600 s after ChannelBind

	before := takeDrops(srv)
	c.sendRaw(channelData(0x4000, []byte("expired")))
	c.confirmNothingElse()
	before.requireDropped(t, srv, DropChannelUnbound, 1)
	peer.expectNothing()
	peer.sendTo([]byte("permission outlives the channel"), relayed)
	requireDataFrom(t, c, peer, "permission outlives the channel")

	requireCode(t, c.request(stunmsg.ChannelBind, channelBindReq(0x4000, netip.MustParseAddrPort("127.0.0.3:5000"))), 400)
	requireCode(t, c.request(stunmsg.ChannelBind, channelBindReq(0x4001, peer.addr())), 400)
	c.bind(0x4000, peer.addr())
	peer.sendTo([]byte("bound again"), relayed)
	requireChannelDataFrom(t, c, 0x4000, "bound again")
}
