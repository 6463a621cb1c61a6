package relay

import (
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/turnstile-relay/turnstile/internal/turnclient/turnclienttest"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
	"github.com/turnstile-relay/turnstile/peerpolicy"
)

// Conformance of the peer policy on every path that names a peer:
// CreatePermission (403), ChannelBind (403) and Send (silent drop)
// (RFC 8656 §10.2, §11.2, §12.2, §21; docs/protocol.md, "Peer policy").
//
// No test here sends to anything but loopback. Refusals of CreatePermission
// and ChannelBind send nothing; Send indications are only aimed at
// loopback forms (127/8, ::1, ::ffff:127.0.0.1, and 0.0.0.0 and ::, which
// Linux delivers to the local host), where a real peer socket would see a
// datagram the relay failed to drop.

// deniedPeers are forms of the default deny list (docs/protocol.md, "Peer
// policy"). IPv4-mapped forms travel as IPv6 XOR-PEER-ADDRESS values
// (Builder encodes any non-Is4 address with family 0x02).
var deniedPeers = []string{
	// IPv4.
	"127.0.0.1", "127.1.2.3", "0.0.0.0", "0.1.2.3",
	"10.0.0.1", "172.16.0.1", "172.31.255.254", "192.168.1.1",
	"100.64.0.1", "100.127.255.254",
	"169.254.169.254", "169.254.1.1",
	"224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
	"192.0.2.1", "198.51.100.1", "203.0.113.1", "198.18.0.1",
	"192.0.0.10", "192.88.99.1",
	// IPv6.
	"::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "fec0::1",
	"ff02::1", "ff0e::1", "100::1", "2001:db8::1", "3fff::1",
	// IPv4-mapped, IPv4-compatible and NAT64 forms of denied IPv4.
	"::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::ffff:0.0.0.0",
	"::7f00:1", "::a9fe:a9fe", "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "64:ff9b:1:a9fe:a900:fe00::",
	// 6to4 and Teredo, which RFC 8656 §21.4 says MUST NOT be accepted.
	"2002:a9fe:a9fe::", "2002:a9fe:a9fe::1", "2002:808:808::1", "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2",
}

// TestConformancePeerPolicyDenyList: with no operator allow list, every
// denied form is refused with 403 by CreatePermission and by ChannelBind,
// and nothing is installed (RFC 8656 §10.2, §12.2, §21.4).
func TestConformancePeerPolicyDenyList(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, withPeerFilter(mustFilter(t, peerpolicy.Config{})))
	c := newRawClient(t, srv.udp, "udp4")
	dualAllocation(t, c)
	for i, s := range deniedPeers {
		t.Run(s, func(t *testing.T) {
			c.t = t
			peer := netip.AddrPortFrom(netip.MustParseAddr(s), 3478)
			m := c.request(stunmsg.CreatePermission, func(b *stunmsg.Builder) {
				b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
			})
			requireCode(t, m, 403)
			requireIntegrity(t, m, c.key)
			m = c.request(stunmsg.ChannelBind, channelBindReq(uint16(0x4000+i), peer))
			requireCode(t, m, 403)
			requireIntegrity(t, m, c.key)
		})
	}
	c.t = t
	a := lookupAllocation(srv, c.fiveTuple())
	if a.Permissions(mono.Now()) != 0 || a.Channels(mono.Now()) != 0 {
		t.Fatal("refused peers left permissions or channels")
	}
}

// TestConformancePeerPolicyLoopbackWithoutAllow: without the operator's
// loopback allow, the relay cannot be made to talk to its own host by any
// path — not by Send in any address form, not by ChannelData, and loopback
// peers cannot reach the client (RFC 8656 §9, §11.2, §21.1.4).
func TestConformancePeerPolicyLoopbackWithoutAllow(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, withPeerFilter(mustFilter(t, peerpolicy.Config{})))
	c := newRawClient(t, srv.udp, "udp4")
	relayed4, relayed6 := dualAllocation(t, c)
	peer4 := newUDPPeer(t, "udp4")
	peer6 := newUDPPeer(t, "udp6")
	port4, port6 := peer4.addr().Port(), peer6.addr().Port()
	forms := []netip.AddrPort{
		peer4.addr(),
		netip.AddrPortFrom(netip.MustParseAddr("::ffff:127.0.0.1"), port4),
		netip.AddrPortFrom(netip.MustParseAddr("0.0.0.0"), port4),
		peer6.addr(),
		netip.AddrPortFrom(netip.MustParseAddr("::"), port6),
	}
	before := takeDrops(srv)
	for i, peer := range forms {
		requireCode(t, c.request(stunmsg.CreatePermission, func(b *stunmsg.Builder) {
			b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
		}), 403)
		ch := uint16(0x4000 + i)
		requireCode(t, c.request(stunmsg.ChannelBind, channelBindReq(ch, peer)), 403)
		c.sendIndication(peer, []byte("must not leave"), nil)
		c.sendRaw(channelData(ch, []byte("must not leave")))
	}
	c.confirmNothingElse()
	peer4.expectNothing()
	peer6.expectNothing()
	before.requireDropped(t, srv, DropNoPermission, uint64(len(forms)))
	before.requireDropped(t, srv, DropChannelUnbound, uint64(len(forms)))

	peer4.sendTo([]byte("unsolicited"), relayed4)
	peer6.sendTo([]byte("unsolicited"), relayed6)
	c.confirmNothingElse()
	waitDropped(t, srv, before, DropNoPermission, uint64(len(forms)+2))
}

// waitDropped waits until counter d grew by want since s; datagrams sent to
// relayed sockets are handled by whichever loop polls them, so the client
// has nothing to synchronize on.
func waitDropped(t testing.TB, srv *testServer, s dropSnapshot, d Drop, want uint64) {
	t.Helper()
	turnclienttest.WaitUntil(t, "counter "+d.String(), func() bool { return dropTotal(srv, d)-s[d] >= want })
}

// switchablePeers is a Policy whose peer filter a test can replace while the
// relay runs, as an embedder's policy may change its answers: it shows that
// Send indications consult the policy per packet.
type switchablePeers struct {
	*DefaultPolicy
	peers atomic.Pointer[peerpolicy.Filter]
}

func (p *switchablePeers) PermitPeer(a *allocation.Allocation, peer netip.AddrPort, hasPort bool) error {
	return (&DefaultPolicy{Peers: p.peers.Load()}).PermitPeer(a, peer, hasPort)
}

// TestConformancePeerPolicySend: Send indications are checked against the
// policy per packet, with the peer's port: a peer that holds a permission
// but is refused now (or names port 0) is dropped and counted as
// peer_denied, and nothing reaches the loopback peers (RFC 8656 §11.2).
func TestConformancePeerPolicySend(t *testing.T) {
	t.Parallel()
	open := mustFilter(t, peerpolicy.Config{Allow: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("::/128"),
	}})
	policy := &switchablePeers{}
	policy.peers.Store(open)
	srv := newTestServer(t, func(c *Config) {
		policy.DefaultPolicy = c.Policy.(*DefaultPolicy)
		c.Policy = policy
	})
	c := newRawClient(t, srv.udp, "udp4")
	relayed4, relayed6 := dualAllocation(t, c)
	peer4 := newUDPPeer(t, "udp4")
	peer6 := newUDPPeer(t, "udp6")
	port4, port6 := peer4.addr().Port(), peer6.addr().Port()
	forms := []struct {
		peer    netip.AddrPort
		reaches *udpPeer
		from    netip.AddrPort
	}{
		{peer4.addr(), peer4, relayed4},
		{netip.AddrPortFrom(netip.MustParseAddr("::ffff:127.0.0.1"), port4), peer4, relayed4},
		{netip.AddrPortFrom(netip.MustParseAddr("0.0.0.0"), port4), peer4, relayed4},
		{peer6.addr(), peer6, relayed6},
		{netip.AddrPortFrom(netip.MustParseAddr("::"), port6), peer6, relayed6},
	}
	c.permit(peer4.addr(), netip.AddrPortFrom(netip.MustParseAddr("0.0.0.0"), 1), peer6.addr(), netip.AddrPortFrom(netip.MustParseAddr("::"), 1))

	// While allowed, every form really reaches a loopback peer: the
	// checks below would see a leak.
	for _, f := range forms {
		c.sendIndication(f.peer, []byte("allowed"), nil)
		requirePeerGot(t, f.reaches, "allowed", f.from)
	}
	before := takeDrops(srv)
	c.sendIndication(netip.AddrPortFrom(loopback4, 0), []byte("port zero"), nil)
	c.confirmNothingElse()
	before.requireDropped(t, srv, DropPeerDenied, 1)

	policy.peers.Store(mustFilter(t, peerpolicy.Config{}))
	before = takeDrops(srv)
	for _, f := range forms {
		c.sendIndication(f.peer, []byte("must not leave"), nil)
	}
	c.confirmNothingElse()
	peer4.expectNothing()
	peer6.expectNothing()
	before.requireDropped(t, srv, DropPeerDenied, uint64(len(forms)))
	for i, f := range forms {
		requireCode(t, c.request(stunmsg.CreatePermission, func(b *stunmsg.Builder) {
			b.AddXORAddress(stunmsg.AttrXORPeerAddress, f.peer)
		}), 403)
		requireCode(t, c.request(stunmsg.ChannelBind, channelBindReq(uint16(0x4000+i), f.peer)), 403)
	}
}

// TestConformancePeerPolicyAllowDeny: the operator's allow list
// (TURNSTILE_PEER_ALLOW) opens loopback, the deny list (TURNSTILE_PEER_DENY)
// wins over it, also for an IPv4-mapped deny prefix and the mapped form of
// a denied peer, and refusals are atomic (RFC 8656 §10.2, §21.2.2).
func TestConformancePeerPolicyAllowDeny(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, withPeerFilter(mustFilter(t, peerpolicy.Config{
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("127.0.0.3/32")},
		Deny:  []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32"), netip.MustParsePrefix("::ffff:127.0.0.4/128")},
	})))
	c := newRawClient(t, srv.udp, "udp4")
	relayed := c.allocate()
	allowed := newUDPPeerAt(t, "127.0.0.2:0")
	denied := newUDPPeerAt(t, "127.0.0.3:0")
	permitOne := func(peers ...netip.AddrPort) int {
		return errorCode(c.request(stunmsg.CreatePermission, func(b *stunmsg.Builder) {
			for _, p := range peers {
				b.AddXORAddress(stunmsg.AttrXORPeerAddress, p)
			}
		}))
	}
	mapped := func(s string, port uint16) netip.AddrPort {
		return netip.AddrPortFrom(netip.MustParseAddr(s), port)
	}
	for _, tc := range []struct {
		name  string
		peers []netip.AddrPort
		code  int
	}{
		{"denied among allowed", []netip.AddrPort{allowed.addr(), denied.addr()}, 403},
		{"denied", []netip.AddrPort{denied.addr()}, 403},
		{"denied, IPv4-mapped form", []netip.AddrPort{mapped("::ffff:127.0.0.3", 1)}, 403},
		{"denied by a mapped prefix", []netip.AddrPort{mapped("127.0.0.4", 1)}, 403},
		{"not in the allow list", []netip.AddrPort{mapped("10.0.0.1", 1)}, 403},
		{"allowed", []netip.AddrPort{allowed.addr()}, 0},
	} {
		if got := permitOne(tc.peers...); got != tc.code {
			t.Fatalf("%s: CreatePermission code %d, want %d", tc.name, got, tc.code)
		}
	}
	for i, p := range []netip.AddrPort{denied.addr(), mapped("::ffff:127.0.0.3", 7), mapped("127.0.0.4", 7)} {
		requireCode(t, c.request(stunmsg.ChannelBind, channelBindReq(uint16(0x4000+i), p)), 403)
	}
	c.bind(0x4010, allowed.addr())

	before := takeDrops(srv)
	c.sendIndication(denied.addr(), []byte("must not leave"), nil)
	c.confirmNothingElse()
	denied.expectNothing()
	before.requireDropped(t, srv, DropNoPermission, 1)
	denied.sendTo([]byte("unsolicited"), relayed)
	allowed.sendTo([]byte("welcome"), relayed)
	requireChannelDataFrom(t, c, 0x4010, "welcome")
}
