package relay

import (
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// Conformance of the permission and channel timers (RFC 8656 §9, §12) with
// the production lifetimes (300 s, 600 s) on the relay's fake clock: the
// test moves time, the relay's expiry timer runs inside clock.Advance, and
// nothing sleeps.

// TestConformanceDefaultTimers: with the default configuration a permission
// lasts exactly 300 s and a channel binding 600 s from the request that
// installed them (RFC 8656 §9: "MUST be 300 seconds", §12: 10 minutes):
// live a nanosecond before the deadline, gone at it.
func TestConformanceDefaultTimers(t *testing.T) {
	t.Parallel()
	srv, clock := newClockedServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	// An hour of allocation lifetime, so only the timers under test end.
	requireCode(t, c.allocateWith(lifetimeAttr(3600)), 0)
	a := lookupAllocation(srv, c.fiveTuple())
	permitted := netip.MustParseAddrPort("127.0.0.2:5000")
	bound := netip.MustParseAddrPort("127.0.0.3:5000")

	installed := clock.Now()
	c.permit(permitted)
	c.bind(0x4000, bound)

	for _, tc := range []struct {
		name string
		ok   func(now mono.Time) bool
		life time.Duration
	}{
		{"permission", func(now mono.Time) bool { return a.Permitted(permitted.Addr(), now) }, 300 * time.Second},
		{"permission of a channel", func(now mono.Time) bool { return a.Permitted(bound.Addr(), now) }, 300 * time.Second},
		{"channel", func(now mono.Time) bool { _, ok := a.ChannelPeer(0x4000, now); return ok }, 600 * time.Second},
	} {
		if !tc.ok(installed.Add(tc.life - 1)) {
			t.Fatalf("%s gone before %v", tc.name, tc.life)
		}
		if tc.ok(installed.Add(tc.life)) {
			t.Fatalf("%s still live at %v", tc.name, tc.life)
		}
	}
}

// TestConformanceChannelBindRefreshesPermission: ChannelBind installs or
// refreshes the permission of the peer's IP (RFC 8656 §12.2), and
// ChannelData does not refresh it (§12.5, §9): once it lapses the bound
// peer's datagrams are dropped even though the channel lives on.
func TestConformanceChannelBindRefreshesPermission(t *testing.T) {
	t.Parallel()
	srv, clock := newClockedServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	relayed := c.allocate()
	bound := newUDPPeerAt(t, "127.0.0.2:0")
	sameIP := newUDPPeerAt(t, "127.0.0.2:0")

	c.permit(sameIP.addr()) // 127.0.0.2 permitted until 300 s
	clock.Advance(120 * time.Second)
	c.bind(0x4000, bound.addr()) // ... refreshed until 420 s
	clock.Advance(180 * time.Second)
	sameIP.sendTo([]byte("refreshed by ChannelBind"), relayed)
	requireDataFrom(t, c, sameIP, "refreshed by ChannelBind")

	// ChannelData up to the last second of the permission does not
	// extend it.
	for range 5 {
		c.sendRaw(channelData(0x4000, []byte("tick")))
		requirePeerGot(t, bound, "tick", relayed)
		clock.Advance(23 * time.Second) // 300 s + 5×23 s = 415 s
	}
	clock.Advance(4*time.Second + 999*time.Millisecond)
	bound.sendTo([]byte("last moment"), relayed)
	requireChannelDataFrom(t, c, 0x4000, "last moment")
	clock.Advance(time.Millisecond) // 420 s: the permission ends
	control := newUDPPeerAt(t, "127.0.0.5:0")
	c.permit(control.addr())
	before := takeDrops(srv)
	bound.sendTo([]byte("permission lapsed"), relayed)
	requireOnlyControl(t, c, control, relayed)
	before.requireDropped(t, srv, DropNoPermission, 1)
}

// TestConformanceChannelRebindRefreshes: binding the same number to the same
// peer again restarts the binding's lifetime (RFC 8656 §12.2).
func TestConformanceChannelRebindRefreshes(t *testing.T) {
	t.Parallel()
	srv, clock := newClockedServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	relayed := c.allocate()
	requireCode(t, c.request(stunmsg.Refresh, lifetimeAttr(3600)), 0) // outlive the channel
	peer := newUDPPeerAt(t, "127.0.0.2:0")
	c.bind(0x4000, peer.addr()) // bound until 600 s
	clock.Advance(400 * time.Second)
	c.bind(0x4000, peer.addr()) // bound until 1000 s, permitted until 700 s
	clock.Advance(250 * time.Second)
	c.sendRaw(channelData(0x4000, []byte("still bound")))
	requirePeerGot(t, peer, "still bound", relayed)
	peer.sendTo([]byte("still bound"), relayed)
	requireChannelDataFrom(t, c, 0x4000, "still bound")
}

// TestConformanceNonceDiffersPerClient: two clients challenged at the same
// moment get different nonces (RFC 8489 §9.2.4: the server MUST NOT choose
// the same NONCE for two requests unless they come from the same source
// address and port).
func TestConformanceNonceDiffersPerClient(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	a, b := newRawClient(t, srv.udp, "udp4"), newRawClient(t, srv.udp, "udp4")
	na := requireChallenge(t, a.roundTrip(a.build(stunmsg.Allocate, stunmsg.Request, newTxID(), false, nil)), 401)
	nb := requireChallenge(t, b.roundTrip(b.build(stunmsg.Allocate, stunmsg.Request, newTxID(), false, nil)), 401)
	if string(na) == string(nb) {
		t.Fatalf("both clients got nonce %q", na)
	}
}
