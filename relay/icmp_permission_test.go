package relay

import (
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/turnclient/turnclienttest"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/turnclient"
)

// TestICMPPermissionIsCheckedOnTheQuotedDestination feeds crafted ICMP
// errors (icmp_inject_test.go) into both relayed sockets of a dual
// allocation whose permissions cover 127.0.0.1 and ::1 only (RFC 8656
// §11.5):
//
//   - an error sent by a router without a permission (127.0.0.3) about a
//     datagram to a permitted peer is forwarded: the ICMP sender is never
//     checked;
//   - an error about a datagram to a peer without a permission is dropped,
//     even when that peer itself sends it;
//   - ICMPv4 type 12 and ICMPv6 type 4 (parameter problem) are not in
//     §11.5's list and are dropped.
//
// A dropped error is proven dropped, not late: the test waits until the
// relay counted the drop, then sends a forwardable marker error on the same
// socket and requires the marker to be the next event.
func TestICMPPermissionIsCheckedOnTheQuotedDestination(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := dialTurnclient(t, srv, turnclient.UDP)
	a, err := c.Allocate(turnclient.AllocateOptions{AdditionalFamily: turnclient.FamilyIPv6})
	if err != nil {
		t.Fatal(err)
	}
	relayed4, ok4 := a.RelayedFor(turnclient.FamilyIPv4)
	relayed6, ok6 := a.RelayedFor(turnclient.FamilyIPv6)
	if !ok4 || !ok6 {
		t.Fatalf("want a dual allocation, got %v", a.Relayed)
	}
	permitted4, permitted6 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")
	if err := c.CreatePermission(permitted4, permitted6); err != nil {
		t.Fatal(err)
	}
	router := netip.MustParseAddr("127.0.0.3")
	stranger4 := netip.MustParseAddr("127.0.0.2")
	stranger6 := netip.MustParseAddr("fd00::2")
	at := func(ip netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(ip, port) }
	v4 := func(from netip.Addr, typ, code uint8, dst netip.AddrPort) func() {
		return func() { injectICMPv4(t, from, typ, code, relayed4, dst) }
	}
	v6 := func(typ, code uint8, dst netip.AddrPort) func() {
		return func() { injectICMPv6(t, typ, code, relayed6, dst) }
	}
	icmp := func(peer netip.AddrPort, typ, code uint8) *turnclient.ICMPEvent {
		return &turnclient.ICMPEvent{Peer: peer, Family: turnclient.FamilyOf(peer.Addr()), Type: typ, Code: code}
	}
	buf := make([]byte, 2048)
	for i, tc := range []struct {
		name   string
		inject func()
		want   *turnclient.ICMPEvent // nil: dropped with drop
		drop   Drop
		marker func(dst netip.AddrPort) func()
		family netip.Addr
	}{
		{"ICMPv4 port unreachable from a router without permission", v4(router, 3, 3, at(permitted4, 40001)),
			icmp(at(permitted4, 40001), 3, 3), 0, nil, permitted4},
		{"ICMPv4 time exceeded", v4(router, 11, 0, at(permitted4, 40002)),
			icmp(at(permitted4, 40002), 11, 0), 0, nil, permitted4},
		{"ICMPv4 about a peer without permission, sent by that peer", v4(stranger4, 3, 3, at(stranger4, 40003)),
			nil, DropICMPNoPermission, func(dst netip.AddrPort) func() { return v4(router, 3, 3, dst) }, permitted4},
		{"ICMPv4 parameter problem", v4(router, 12, 0, at(permitted4, 40004)),
			nil, DropICMPIgnored, func(dst netip.AddrPort) func() { return v4(router, 3, 3, dst) }, permitted4},
		{"ICMPv6 port unreachable", v6(1, 4, at(permitted6, 40005)),
			icmp(at(permitted6, 40005), 1, 4), 0, nil, permitted6},
		{"ICMPv6 time exceeded", v6(3, 0, at(permitted6, 40006)),
			icmp(at(permitted6, 40006), 3, 0), 0, nil, permitted6},
		{"ICMPv6 about a peer without permission", v6(1, 4, at(stranger6, 40007)),
			nil, DropICMPNoPermission, func(dst netip.AddrPort) func() { return v6(1, 4, dst) }, permitted6},
		{"ICMPv6 parameter problem", v6(4, 0, at(permitted6, 40008)),
			nil, DropICMPIgnored, func(dst netip.AddrPort) func() { return v6(1, 4, dst) }, permitted6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want != nil {
				tc.inject()
				if ev := turnclienttest.MustEvent(t, c, buf); ev.Kind != turnclient.EventICMP || ev.ICMP != *tc.want {
					t.Fatalf("got %v %+v, want ICMP %+v", ev.Kind, ev.ICMP, *tc.want)
				}
				return
			}
			before := dropsOf(srv, tc.drop)
			tc.inject()
			turnclienttest.WaitUntil(t, tc.drop.String()+" drop", func() bool { return dropsOf(srv, tc.drop) == before+1 })
			markerPeer := at(tc.family, uint16(41000+i))
			tc.marker(markerPeer)()
			ev := turnclienttest.MustEvent(t, c, buf)
			if ev.Kind != turnclient.EventICMP || ev.ICMP.Peer != markerPeer {
				t.Fatalf("after the dropped error got %v %+v, want the marker for %v", ev.Kind, ev.ICMP, markerPeer)
			}
		})
	}
}

// TestICMPForExpiredPermissionIsDropped: an error about a peer whose
// permission has expired is dropped, and forwarded again once the
// permission is renewed (RFC 8656 §11.5: only for peers with a permission).
// The relay runs on a fake clock, so the 300 s lifetime passes at once.
func TestICMPForExpiredPermissionIsDropped(t *testing.T) {
	t.Parallel()
	srv, clock := newClockedServer(t)
	c := dialTurnclient(t, srv, turnclient.UDP)
	a, err := c.Allocate(turnclient.AllocateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	relayed := a.Relayed[0]
	peer := netip.MustParseAddr("127.0.0.1")
	if err := c.CreatePermission(peer); err != nil {
		t.Fatal(err)
	}
	router := netip.MustParseAddr("127.0.0.3")
	buf := make([]byte, 2048)
	injectICMPv4(t, router, 3, 3, relayed, netip.AddrPortFrom(peer, 40001))
	if ev := turnclienttest.MustEvent(t, c, buf); ev.Kind != turnclient.EventICMP || ev.ICMP.Peer.Port() != 40001 {
		t.Fatalf("while permitted: %v %+v", ev.Kind, ev.ICMP)
	}
	alloc := srv.table.Lookup(allocation.FiveTuple{Client: c.LocalAddr(), Server: srv.udp, Transport: allocation.TransportUDP}, clock.Now())
	if alloc == nil {
		t.Fatal("allocation not found")
	}
	clock.Advance(300 * time.Second)
	if alloc.Permitted(peer, clock.Now()) {
		t.Fatal("permission live 300 s after CreatePermission")
	}
	before := dropsOf(srv, DropICMPNoPermission)
	injectICMPv4(t, router, 3, 3, relayed, netip.AddrPortFrom(peer, 40002))
	turnclienttest.WaitUntil(t, "the no-permission drop", func() bool { return dropsOf(srv, DropICMPNoPermission) == before+1 })
	if err := c.CreatePermission(peer); err != nil {
		t.Fatal(err)
	}
	injectICMPv4(t, router, 3, 3, relayed, netip.AddrPortFrom(peer, 40003))
	if ev := turnclienttest.MustEvent(t, c, buf); ev.Kind != turnclient.EventICMP || ev.ICMP.Peer.Port() != 40003 {
		t.Fatalf("after renewing: got %v %+v, want the error for port 40003", ev.Kind, ev.ICMP)
	}
}

// TestICMPRateLimitPerAllocation: a burst of errors beyond the allocation's
// budget (icmpBurst, refilled at icmpRate per second) is dropped and
// counted; another allocation is unaffected, and the budget refills.
func TestICMPRateLimitPerAllocation(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	router := netip.MustParseAddr("127.0.0.3")
	peer := netip.MustParseAddr("127.0.0.1")
	clients := make([]*turnclient.Client, 2)
	relayed := make([]netip.AddrPort, 2)
	for i := range clients {
		clients[i] = dialTurnclient(t, srv, turnclient.UDP)
		a, err := clients[i].Allocate(turnclient.AllocateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		relayed[i] = a.Relayed[0]
		if err := clients[i].CreatePermission(peer); err != nil {
			t.Fatal(err)
		}
	}
	const sent = icmpBurst + 10
	for i := 0; i < sent; i++ {
		injectICMPv4(t, router, 3, 3, relayed[0], netip.AddrPortFrom(peer, uint16(42000+i)))
	}
	turnclienttest.WaitUntil(t, "every error to be handled", func() bool {
		return srv.Stats().ICMPForwarded+dropsOf(srv, DropICMPRateLimited) == sent
	})
	forwarded, limited := srv.Stats().ICMPForwarded, dropsOf(srv, DropICMPRateLimited)
	// The burst, plus what icmpRate refilled while the errors were being
	// written (milliseconds; one second of slack for a loaded machine).
	if forwarded < icmpBurst || forwarded > icmpBurst+icmpRate || limited == 0 {
		t.Fatalf("forwarded %d and rate-limited %d of %d, want about %d forwarded", forwarded, limited, sent, icmpBurst)
	}
	buf := make([]byte, 2048)
	for i := uint64(0); i < forwarded; i++ {
		if ev := turnclienttest.MustEvent(t, clients[0], buf); ev.Kind != turnclient.EventICMP {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	turnclienttest.ExpectNoEvent(t, clients[0], "beyond the rate limit")

	injectICMPv4(t, router, 3, 3, relayed[1], netip.AddrPortFrom(peer, 43000))
	if ev := turnclienttest.MustEvent(t, clients[1], buf); ev.Kind != turnclient.EventICMP || ev.ICMP.Peer.Port() != 43000 {
		t.Fatalf("other allocation: %v %+v", ev.Kind, ev.ICMP)
	}
	// ExpectNoEvent waited 300 ms: at icmpRate per second that refilled
	// at least one token.
	injectICMPv4(t, router, 3, 3, relayed[0], netip.AddrPortFrom(peer, 43001))
	if ev := turnclienttest.MustEvent(t, clients[0], buf); ev.Kind != turnclient.EventICMP || ev.ICMP.Peer.Port() != 43001 {
		t.Fatalf("after the refill: %v %+v", ev.Kind, ev.ICMP)
	}
}
