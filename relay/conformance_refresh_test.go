package relay

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// Conformance of Refresh (RFC 8656 §8) and of the rules every non-Allocate
// request shares (RFC 8656 §5).

// requirePortClosed proves a relayed UDP port is released by binding it.
func requirePortClosed(t testing.TB, ap netip.AddrPort) {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		t.Fatalf("relayed port %s still bound: %v", ap, err)
	}
	c.Close()
}

func lifetimeAttr(seconds uint32) msgBuilder {
	return func(b *stunmsg.Builder) { b.AddUint32(stunmsg.AttrLifetime, seconds) }
}

// TestConformanceRefreshLifetime: the granted lifetime is computed as for
// Allocate (RFC 8656 §7.2), the response carries it, and the table's expiry
// moves (RFC 8656 §8.2).
func TestConformanceRefreshLifetime(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	c.allocate()
	a := lookupAllocation(srv, c.fiveTuple())
	for _, tc := range []struct {
		name      string
		attrs     msgBuilder
		granted   uint32
		remaining time.Duration
	}{
		{"absent", nil, 600, 600 * time.Second},
		{"1200", lifetimeAttr(1200), 1200, 1200 * time.Second},
		{"30", lifetimeAttr(30), 600, 600 * time.Second},
		{"7200", lifetimeAttr(7200), 3600, 3600 * time.Second},
		{"599", lifetimeAttr(599), 600, 600 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			refreshed := srv.events.count(EventRefreshed)
			m := c.request(stunmsg.Refresh, tc.attrs)
			requireCode(t, m, 0)
			requireSoftware(t, m)
			requireIntegrity(t, m, c.key)
			if got := lifetimeOf(t, m); got != tc.granted {
				t.Fatalf("LIFETIME %d, want %d", got, tc.granted)
			}
			if left := a.Remaining(mono.Now()); left > tc.remaining || left < tc.remaining-10*time.Second {
				t.Fatalf("expiry in %v, want about %v", left, tc.remaining)
			}
			if srv.events.count(EventRefreshed) != refreshed+1 {
				t.Fatal("no EventRefreshed")
			}
		})
	}
}

// TestConformanceRefreshDelete: LIFETIME 0 deletes the allocation at once —
// LIFETIME 0 in the response, relayed port released, EventDeleted — and
// later requests on the 5-tuple get 437 while indications and ChannelData
// are ignored (RFC 8656 §5, §8.2). A retransmission of the deleting request
// is answered from the transaction cache with the same bytes (RFC 8489
// §6.3.1).
func TestConformanceRefreshDelete(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	relayed := c.allocate()
	peer := newUDPPeer(t, "udp4")
	c.bind(0x4000, peer.addr())

	deleteReq := c.build(stunmsg.Refresh, stunmsg.Request, newTxID(), true, lifetimeAttr(0))
	m := c.roundTrip(deleteReq)
	requireCode(t, m, 0)
	requireIntegrity(t, m, c.key)
	if got := lifetimeOf(t, m); got != 0 {
		t.Fatalf("LIFETIME %d after delete, want 0", got)
	}
	first := append([]byte(nil), m.Raw...)
	if srv.ActiveAllocations() != 0 || srv.events.count(EventDeleted) != 1 {
		t.Fatal("allocation not deleted")
	}
	requirePortClosed(t, relayed)

	if again := c.roundTrip(deleteReq); !bytes.Equal(again.Raw, first) {
		t.Fatal("retransmitted delete answered differently")
	}
	for _, tc := range []struct {
		method stunmsg.Method
		attrs  msgBuilder
	}{
		{stunmsg.Refresh, lifetimeAttr(0)},
		{stunmsg.Refresh, nil},
		{stunmsg.CreatePermission, func(b *stunmsg.Builder) { b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer.addr()) }},
		{stunmsg.ChannelBind, func(b *stunmsg.Builder) {
			b.AddChannelNumber(0x4000)
			b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer.addr())
		}},
	} {
		m := c.request(tc.method, tc.attrs)
		requireCode(t, m, 437)
		requireIntegrity(t, m, c.key)
	}
	before := takeDrops(srv)
	c.sendIndication(peer.addr(), []byte("late"), nil)
	c.sendRaw(channelData(0x4000, []byte("late")))
	c.confirmNothingElse()
	before.requireDropped(t, srv, DropNoAllocation, 2)
	peer.expectNothing()
}

// TestConformanceRefreshWithoutAllocation: a Refresh on a 5-tuple without an
// allocation is 437 (RFC 8656 §5, §8.2).
func TestConformanceRefreshWithoutAllocation(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	m := c.request(stunmsg.Refresh, nil)
	requireCode(t, m, 437)
	requireIntegrity(t, m, c.key)
	requireSoftware(t, m)
}

// TestConformanceWrongCredentials: requests on an allocation signed by
// another user are 441 and change nothing (RFC 8656 §5).
func TestConformanceWrongCredentials(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	c.allocate()
	peer := newUDPPeer(t, "udp4").addr()
	// A REST username embeds its expiry, so keep the exact credential to
	// return to.
	ownName, ownKey := c.username, c.key
	c.withUser("mallory")
	for _, tc := range []struct {
		method stunmsg.Method
		attrs  msgBuilder
	}{
		{stunmsg.Refresh, lifetimeAttr(0)},
		{stunmsg.CreatePermission, func(b *stunmsg.Builder) { b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer) }},
		{stunmsg.ChannelBind, func(b *stunmsg.Builder) {
			b.AddChannelNumber(0x4000)
			b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
		}},
	} {
		t.Run(tc.method.String(), func(t *testing.T) {
			c.t = t
			m := c.request(tc.method, tc.attrs)
			requireCode(t, m, 441)
			requireIntegrity(t, m, c.key)
		})
	}
	c.t = t
	a := lookupAllocation(srv, c.fiveTuple())
	if a == nil || a.Permissions(mono.Now()) != 0 || a.Channels(mono.Now()) != 0 {
		t.Fatal("441 requests changed the allocation")
	}
	c.username, c.key = ownName, ownKey
	requireCode(t, c.request(stunmsg.Refresh, nil), 0)
}

// TestConformanceRefreshAddressFamily: REQUESTED-ADDRESS-FAMILY in a Refresh
// must name a family the allocation holds, else 443 (RFC 8656 §8.1, §8.2).
func TestConformanceRefreshAddressFamily(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	only4 := newRawClient(t, srv.udp, "udp4")
	only4.allocate()
	dual := newRawClient(t, srv.udp, "udp4")
	requireCode(t, dual.allocateWith(func(b *stunmsg.Builder) {
		b.AddAddressFamily(stunmsg.AttrAdditionalAddressFamily, stunmsg.FamilyIPv6)
	}), 0)
	only6 := newRawClient(t, srv.udp, "udp4")
	requireCode(t, only6.allocateWith(func(b *stunmsg.Builder) {
		b.AddAddressFamily(stunmsg.AttrRequestedAddressFamily, stunmsg.FamilyIPv6)
	}), 0)
	fam := func(f stunmsg.Family) msgBuilder {
		return func(b *stunmsg.Builder) { b.AddAddressFamily(stunmsg.AttrRequestedAddressFamily, f) }
	}
	for _, tc := range []struct {
		name  string
		c     *rawClient
		attrs msgBuilder
		code  int
	}{
		{"IPv4 allocation, IPv4", only4, fam(stunmsg.FamilyIPv4), 0},
		{"IPv4 allocation, IPv6", only4, fam(stunmsg.FamilyIPv6), 443},
		{"IPv6 allocation, IPv4", only6, fam(stunmsg.FamilyIPv4), 443},
		{"IPv6 allocation, IPv6", only6, fam(stunmsg.FamilyIPv6), 0},
		{"dual allocation, IPv4", dual, fam(stunmsg.FamilyIPv4), 0},
		{"dual allocation, IPv6", dual, fam(stunmsg.FamilyIPv6), 0},
		{"unknown family", dual, fam(3), 443},
		{"malformed family", dual, func(b *stunmsg.Builder) { b.Add(stunmsg.AttrRequestedAddressFamily, []byte{1}) }, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.t = t
			m := tc.c.request(stunmsg.Refresh, tc.attrs)
			requireCode(t, m, tc.code)
			requireIntegrity(t, m, tc.c.key)
			if tc.code != 0 && lookupAllocation(srv, tc.c.fiveTuple()) == nil {
				t.Fatal("a refused Refresh deleted the allocation")
			}
		})
	}
}

// TestConformanceAllocationExpires: an allocation that is not refreshed
// expires at the end of its lifetime (600 s by default, RFC 8656 §6.2): the
// relay's one expiry timer ends it at the deadline, its port is released,
// EventExpired is published and the 5-tuple answers 437.
func TestConformanceAllocationExpires(t *testing.T) {
	t.Parallel()
	srv, clock := newClockedServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	relayed := c.allocate()
	if got := lifetimeOf(t, &c.resp); got != 600 {
		t.Fatalf("LIFETIME %d, want the default 600", got)
	}
	clock.Advance(600*time.Second - time.Millisecond)
	if n := srv.events.count(EventExpired); n != 0 || srv.ActiveAllocations() != 1 {
		t.Fatalf("before its deadline: %d expiry events, %d allocations", n, srv.ActiveAllocations())
	}
	clock.Advance(time.Millisecond)
	if n := srv.events.count(EventExpired); n != 1 {
		t.Fatalf("%d expiry events at the deadline, want 1", n)
	}
	requirePortClosed(t, relayed)
	requireCode(t, c.request(stunmsg.Refresh, nil), 437)
}
