package relay

import (
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// Conformance of the permission and channel timers (RFC 8656 §9, §12;
// T-51, T-93, T-94, T-96). The production lifetimes (300 s, 600 s) are
// checked through the allocation table with a chosen now; what refreshes
// what is checked in real time with lifetimes shortened to seconds.

// TestConformanceDefaultTimers: with the default configuration a permission
// lasts exactly 300 s and a channel binding 600 s from the request that
// installed them (T-51, T-93; RFC 8656 §9: "MUST be 300 seconds", §12:
// 10 minutes).
func TestConformanceDefaultTimers(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	// An hour of allocation lifetime, so only the timers under test end.
	requireCode(t, c.allocateWith(lifetimeAttr(3600)), 0)
	a := lookupAllocation(srv, c.fiveTuple())
	permitted := netip.MustParseAddrPort("127.0.0.2:5000")
	bound := netip.MustParseAddrPort("127.0.0.3:5000")

	before := mono.Now()
	c.permit(permitted)
	c.bind(0x4000, bound)
	after := mono.Now()

	for _, tc := range []struct {
		name string
		ok   func(now mono.Time) bool
		life time.Duration
	}{
		{"permission", func(now mono.Time) bool { return a.Permitted(permitted.Addr(), now) }, 300 * time.Second},
		{"permission of a channel", func(now mono.Time) bool { return a.Permitted(bound.Addr(), now) }, 300 * time.Second},
		{"channel", func(now mono.Time) bool { _, ok := a.ChannelPeer(0x4000, now); return ok }, 600 * time.Second},
	} {
		if !tc.ok(before.Add(tc.life - time.Second)) {
			t.Fatalf("%s gone before %v", tc.name, tc.life)
		}
		if tc.ok(after.Add(tc.life)) {
			t.Fatalf("%s still live after %v", tc.name, tc.life)
		}
	}
}

// TestConformanceChannelBindRefreshesPermission: ChannelBind installs or
// refreshes the permission of the peer's IP, and ChannelData does not
// refresh it: once it lapses the bound peer's datagrams are dropped even
// though the channel lives on (T-51, T-93, T-96).
func TestConformanceChannelBindRefreshesPermission(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, withAllocationConfig(func(a *allocation.Config) { a.PermissionLifetime = 2 * time.Second }))
	c := newRawClient(t, srv.udp, "udp4")
	relayed := c.allocate()
	bound := newUDPPeerAt(t, "127.0.0.2:0")
	sameIP := newUDPPeerAt(t, "127.0.0.2:0")

	start := time.Now()
	c.permit(sameIP.addr())
	time.Sleep(time.Until(start.Add(1200 * time.Millisecond)))
	c.bind(0x4000, bound.addr()) // refreshes the IP's permission until ~3.2 s
	time.Sleep(time.Until(start.Add(2600 * time.Millisecond)))
	sameIP.sendTo([]byte("refreshed by ChannelBind"), relayed)
	requireDataFrom(t, c, sameIP, "refreshed by ChannelBind")

	// Keep ChannelData flowing until shortly before the permission ends,
	// then look after its end.
	for time.Since(start) < 3*time.Second {
		c.sendRaw(channelData(0x4000, []byte("tick")))
		requirePeerGot(t, bound, "tick", relayed)
		time.Sleep(200 * time.Millisecond)
	}
	control := newUDPPeerAt(t, "127.0.0.5:0")
	c.permit(control.addr())
	time.Sleep(time.Until(start.Add(3700 * time.Millisecond)))
	before := takeDrops(srv)
	bound.sendTo([]byte("permission lapsed"), relayed)
	requireOnlyControl(t, c, control, relayed)
	before.requireDropped(t, srv, DropNoPermission, 1)
}

// TestConformanceChannelRebindRefreshes: binding the same number to the same
// peer again restarts the binding's lifetime (T-94).
func TestConformanceChannelRebindRefreshes(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, withAllocationConfig(func(a *allocation.Config) { a.ChannelLifetime = 2 * time.Second }))
	c := newRawClient(t, srv.udp, "udp4")
	relayed := c.allocate()
	peer := newUDPPeerAt(t, "127.0.0.2:0")
	start := time.Now()
	c.bind(0x4000, peer.addr())
	time.Sleep(time.Until(start.Add(1200 * time.Millisecond)))
	c.bind(0x4000, peer.addr())
	time.Sleep(time.Until(start.Add(2600 * time.Millisecond)))
	c.sendRaw(channelData(0x4000, []byte("still bound")))
	requirePeerGot(t, peer, "still bound", relayed)
	peer.sendTo([]byte("still bound"), relayed)
	requireChannelDataFrom(t, c, 0x4000, "still bound")
}

// TestConformanceNonceDiffersPerClient: two clients challenged at the same
// moment get different nonces (RFC 8489 §9.2.4: the server MUST NOT choose
// the same NONCE for two requests unless they come from the same source
// address and port; S-52, S-55).
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
