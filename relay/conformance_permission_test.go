package relay

import (
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// Conformance of permissions and CreatePermission (RFC 8656 §9, §10).

// requireDataFrom waits for the next datagram the relay forwards to c and
// requires a Data indication from peer carrying payload (RFC 8656 §11.3).
func requireDataFrom(t testing.TB, c *rawClient, peer *udpPeer, payload string) {
	t.Helper()
	from, data := parseDataIndication(t, c.recvFromPeer())
	if from != peer.addr() || string(data) != payload {
		t.Fatalf("Data indication from %s with %q, want %s with %q", from, data, peer.addr(), payload)
	}
}

// requireOnlyControl proves that what peers sent to relayed before was
// dropped: control (which holds a permission) sends now, and its datagram
// must be the first the client gets. A relayed socket is read in order by
// one packet loop, so anything forwarded earlier would arrive first.
func requireOnlyControl(t testing.TB, c *rawClient, control *udpPeer, relayed netip.AddrPort) {
	t.Helper()
	control.sendTo([]byte("control"), relayed)
	requireDataFrom(t, c, control, "control")
}

// TestConformanceCreatePermissionErrors: a request without a valid
// XOR-PEER-ADDRESS is 400, a peer of a family the allocation does not relay
// is 443, and neither installs anything (RFC 8656 §10.2).
func TestConformanceCreatePermissionErrors(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	c.allocate()
	good := netip.MustParseAddrPort("127.0.0.2:4000")
	v4Family20 := xorAddressValue(netip.MustParseAddrPort("[::1]:4000"), newTxID(), true)
	v4Family20[1] = byte(stunmsg.FamilyIPv4)
	v6Family8 := xorAddressValue(good, newTxID(), false)
	v6Family8[1] = byte(stunmsg.FamilyIPv6)
	family3 := xorAddressValue(good, newTxID(), false)
	family3[1] = 3
	raw := func(vs ...[]byte) msgBuilder {
		return func(b *stunmsg.Builder) {
			b.AddXORAddress(stunmsg.AttrXORPeerAddress, good)
			for _, v := range vs {
				b.Add(stunmsg.AttrXORPeerAddress, v)
			}
		}
	}
	for _, tc := range []struct {
		name  string
		attrs msgBuilder
		code  int
	}{
		{"no XOR-PEER-ADDRESS", nil, 400},
		{"zero-length XOR-PEER-ADDRESS", raw([]byte{}), 400},
		{"6-byte XOR-PEER-ADDRESS", raw([]byte{0, 1, 2, 3, 4, 5}), 400},
		{"IPv4 family with 20 bytes", raw(v4Family20), 400},
		{"IPv6 family with 8 bytes", raw(v6Family8), 400},
		{"family 0x03", raw(family3), 400},
		{"IPv6 peer on an IPv4 allocation", func(b *stunmsg.Builder) {
			b.AddXORAddress(stunmsg.AttrXORPeerAddress, good)
			b.AddXORAddress(stunmsg.AttrXORPeerAddress, netip.MustParseAddrPort("[::1]:4000"))
		}, 443},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			m := c.request(stunmsg.CreatePermission, tc.attrs)
			requireCode(t, m, tc.code)
			requireIntegrity(t, m, c.key)
			requireSoftware(t, m)
		})
	}
	c.t = t
	if n := lookupAllocation(srv, c.fiveTuple()).Permissions(mono.Now()); n != 0 {
		t.Fatalf("refused requests installed %d permissions", n)
	}
}

// TestConformanceCreatePermissionCapacity: beyond the per-allocation limit
// CreatePermission is 508; refreshing held permissions still works
// (RFC 8656 §10.2).
func TestConformanceCreatePermissionCapacity(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, withAllocationConfig(func(a *allocation.Config) { a.MaxPermissions = 2 }))
	c := newRawClient(t, srv.udp, "udp4")
	c.allocate()
	p := func(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
	permitAll := func(peers ...netip.AddrPort) *stunmsg.Message {
		return c.request(stunmsg.CreatePermission, func(b *stunmsg.Builder) {
			for _, peer := range peers {
				b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
			}
		})
	}
	requireCode(t, permitAll(p("127.0.0.2:1"), p("127.0.0.3:1"), p("127.0.0.4:1")), 508)
	requireCode(t, permitAll(p("127.0.0.2:1"), p("127.0.0.3:1")), 0)
	m := permitAll(p("127.0.0.4:1"))
	requireCode(t, m, 508)
	requireIntegrity(t, m, c.key)
	requireCode(t, permitAll(p("127.0.0.3:9")), 0)
}

// TestConformanceCreatePermissionSeveralPeers: one request installs a
// permission for every XOR-PEER-ADDRESS, an IPv4-mapped IPv6 one included
// (RFC 8656 §10.2, §11.3).
func TestConformanceCreatePermissionSeveralPeers(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	relayed := c.allocate()
	peers := []*udpPeer{newUDPPeerAt(t, "127.0.0.2:0"), newUDPPeerAt(t, "127.0.0.3:0"), newUDPPeerAt(t, "127.0.0.4:0")}
	txid := newTxID()
	m := c.authedTx(stunmsg.CreatePermission, txid, func(b *stunmsg.Builder) {
		b.AddXORAddress(stunmsg.AttrXORPeerAddress, peers[0].addr())
		b.AddXORAddress(stunmsg.AttrXORPeerAddress, peers[1].addr())
		b.Add(stunmsg.AttrXORPeerAddress, xorAddressValue(peers[2].addr(), txid, true))
	})
	requireCode(t, m, 0)
	requireIntegrity(t, m, c.key)
	for _, p := range peers {
		p.sendTo([]byte("hello from "+p.addr().String()), relayed)
		requireDataFrom(t, c, p, "hello from "+p.addr().String())
	}
}

// TestConformanceCreatePermissionAtomic: when any peer is refused — by the
// peer policy (403) or by family (443) — no permission is installed for the
// others either (RFC 8656 §10.2).
func TestConformanceCreatePermissionAtomic(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	relayed := c.allocate()
	allowed := newUDPPeerAt(t, "127.0.0.2:0")
	control := newUDPPeerAt(t, "127.0.0.5:0")
	for _, tc := range []struct {
		name  string
		other netip.AddrPort
		code  int
	}{
		{"forbidden peer", netip.MustParseAddrPort("10.0.0.1:4000"), 403},
		{"cloud metadata peer", netip.MustParseAddrPort("169.254.169.254:80"), 403},
		{"IPv6 peer", netip.MustParseAddrPort("[::1]:4000"), 443},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			m := c.request(stunmsg.CreatePermission, func(b *stunmsg.Builder) {
				b.AddXORAddress(stunmsg.AttrXORPeerAddress, allowed.addr())
				b.AddXORAddress(stunmsg.AttrXORPeerAddress, tc.other)
			})
			requireCode(t, m, tc.code)
			requireIntegrity(t, m, c.key)
			if n := lookupAllocation(srv, c.fiveTuple()).Permissions(mono.Now()); n != 0 {
				t.Fatalf("%d permissions installed by a refused request", n)
			}
		})
	}
	c.t = t
	c.permit(control.addr())
	before := takeDrops(srv)
	allowed.sendTo([]byte("must be dropped"), relayed)
	requireOnlyControl(t, c, control, relayed)
	before.requireDropped(t, srv, DropNoPermission, 1)
}

// TestConformancePermissionIsIPOnly: a permission covers every port of the
// peer's IP in both directions (RFC 8656 §9: ports are not compared).
func TestConformancePermissionIsIPOnly(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	relayed := c.allocate()
	c.permit(netip.MustParseAddrPort("127.0.0.2:1"))
	a, b := newUDPPeerAt(t, "127.0.0.2:0"), newUDPPeerAt(t, "127.0.0.2:0")
	a.sendTo([]byte("from a"), relayed)
	requireDataFrom(t, c, a, "from a")
	b.sendTo([]byte("from b"), relayed)
	requireDataFrom(t, c, b, "from b")
	c.sendIndication(b.addr(), []byte("to b"), nil)
	if got, from := b.mustRecv(); string(got) != "to b" || from != relayed {
		t.Fatalf("peer got %q from %s, want %q from %s", got, from, "to b", relayed)
	}
}

// TestConformancePermissionRequiredInbound: a datagram from a peer without a
// permission is dropped (RFC 8656 §9, §11.3).
func TestConformancePermissionRequiredInbound(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	relayed := c.allocate()
	control := newUDPPeerAt(t, "127.0.0.5:0")
	c.permit(control.addr())
	stranger := newUDPPeerAt(t, "127.0.0.6:0")
	before := takeDrops(srv)
	stranger.sendTo([]byte("unsolicited"), relayed)
	requireOnlyControl(t, c, control, relayed)
	before.requireDropped(t, srv, DropNoPermission, 1)
}

// TestConformancePermissionExpires: a permission lasts 300 s (RFC 8656 §9)
// and neither Send indications nor inbound data refresh it; from its
// deadline on both directions are dropped until the client permits again.
func TestConformancePermissionExpires(t *testing.T) {
	t.Parallel()
	srv, clock := newClockedServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	relayed := c.allocate()
	peer := newUDPPeerAt(t, "127.0.0.2:0")
	c.permit(peer.addr())
	for range 3 {
		c.sendIndication(peer.addr(), []byte("while live"), nil)
		if got, _ := peer.mustRecv(); string(got) != "while live" {
			t.Fatalf("peer got %q", got)
		}
		peer.sendTo([]byte("reply"), relayed)
		requireDataFrom(t, c, peer, "reply")
		clock.Advance(99 * time.Second)
	}
	clock.Advance(3 * time.Second) // 300 s after CreatePermission

	control := newUDPPeerAt(t, "127.0.0.5:0")
	c.permit(control.addr())
	before := takeDrops(srv)
	c.sendIndication(peer.addr(), []byte("after expiry"), nil)
	c.confirmNothingElse()
	peer.expectNothing()
	peer.sendTo([]byte("after expiry"), relayed)
	requireOnlyControl(t, c, control, relayed)
	before.requireDropped(t, srv, DropNoPermission, 2)

	c.permit(peer.addr())
	peer.sendTo([]byte("permitted again"), relayed)
	requireDataFrom(t, c, peer, "permitted again")
}

// TestConformancePermissionRefresh: CreatePermission for a held peer
// restarts its 300 s lifetime (RFC 8656 §9.2), and the refreshed permission
// ends 300 s after the refresh.
func TestConformancePermissionRefresh(t *testing.T) {
	t.Parallel()
	srv, clock := newClockedServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	relayed := c.allocate()
	peer := newUDPPeerAt(t, "127.0.0.2:0")
	c.permit(peer.addr())
	clock.Advance(200 * time.Second)
	c.permit(peer.addr())
	clock.Advance(299 * time.Second) // 499 s: past the first deadline
	peer.sendTo([]byte("still permitted"), relayed)
	requireDataFrom(t, c, peer, "still permitted")

	clock.Advance(time.Second) // 300 s after the refresh
	control := newUDPPeerAt(t, "127.0.0.5:0")
	c.permit(control.addr())
	before := takeDrops(srv)
	peer.sendTo([]byte("expired"), relayed)
	requireOnlyControl(t, c, control, relayed)
	before.requireDropped(t, srv, DropNoPermission, 1)
}
