package relay

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// Conformance of Allocate (RFC 8656 §6, §7.2).

var (
	loopback4 = netip.MustParseAddr("127.0.0.1")
	loopback6 = netip.MustParseAddr("::1")
)

// requireRelayed checks a relayed address: the expected IP and a port in the
// configured range 49152–65535 (RFC 8656 §7.2).
func requireRelayed(t testing.TB, ap netip.AddrPort, ip netip.Addr) {
	t.Helper()
	if ap.Addr() != ip || ap.Port() < 49152 {
		t.Fatalf("relayed address %s, want %s with a port in 49152-65535", ap, ip)
	}
}

// TestConformanceAllocateSuccess: the success response carries
// XOR-RELAYED-ADDRESS in the relay range, LIFETIME, XOR-MAPPED-ADDRESS of
// the client, SOFTWARE and integrity; no RESERVATION-TOKEN unless asked
// (RFC 8656 §5, §7.2).
func TestConformanceAllocateSuccess(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	m := c.allocateWith(nil)
	requireCode(t, m, 0)
	requireSoftware(t, m)
	requireIntegrity(t, m, c.key)
	relayed := allXORAddrs(t, m, stunmsg.AttrXORRelayedAddress)
	if len(relayed) != 1 {
		t.Fatalf("%d XOR-RELAYED-ADDRESS, want 1 (IPv4 by default, RFC 8656 §7.2 step 7)", len(relayed))
	}
	requireRelayed(t, relayed[0], loopback4)
	if got := lifetimeOf(t, m); got != 600 {
		t.Fatalf("LIFETIME %d, want the default 600", got)
	}
	if got := xorAddr(t, m, stunmsg.AttrXORMappedAddress); got != c.addr() {
		t.Fatalf("XOR-MAPPED-ADDRESS %s, want %s", got, c.addr())
	}
	if m.Contains(stunmsg.AttrReservationToken) {
		t.Fatal("RESERVATION-TOKEN without EVEN-PORT R=1")
	}
	if srv.events.count(EventCreated) != 1 {
		t.Fatal("no EventCreated")
	}
	a := lookupAllocation(srv, c.fiveTuple())
	if a == nil || a.Relayed4 != relayed[0] || a.Permissions(mono.Now()) != 0 || a.Channels(mono.Now()) != 0 {
		t.Fatal("the table does not hold the allocation as answered, with no permissions or channels")
	}
}

// TestConformanceAllocateMismatch: a second Allocate on a 5-tuple that has an
// allocation, in a new transaction, is 437 (RFC 8656 §7.2 step 2).
func TestConformanceAllocateMismatch(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	c.allocate()
	m := c.allocateWith(nil)
	requireCode(t, m, 437)
	requireIntegrity(t, m, c.key)
	requireSoftware(t, m)
	if srv.ActiveAllocations() != 1 {
		t.Fatalf("%d allocations, want 1", srv.ActiveAllocations())
	}
}

// TestConformanceAllocateRetransmission: the same Allocate bytes sent again
// get a byte-identical success response, not 437, and no second allocation
// (RFC 8489 §6.3.1; RFC 8656 §5, §7.2 retransmission note).
func TestConformanceAllocateRetransmission(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	c.roundTrip(c.build(stunmsg.Allocate, stunmsg.Request, newTxID(), false, nil))
	c.learnNonce(&c.resp)
	req := c.build(stunmsg.Allocate, stunmsg.Request, newTxID(), true, func(b *stunmsg.Builder) {
		b.AddRequestedTransport(stunmsg.ProtoUDP)
	})
	first := c.roundTrip(req)
	requireCode(t, first, 0)
	firstRaw := append([]byte(nil), first.Raw...)
	again := c.roundTrip(req)
	if !bytes.Equal(firstRaw, again.Raw) {
		t.Fatalf("retransmitted Allocate answered differently:\n% x\n% x", firstRaw, again.Raw)
	}
	if srv.ActiveAllocations() != 1 || srv.events.count(EventCreated) != 1 {
		t.Fatal("the retransmission created a second allocation")
	}
}

// TestConformanceAllocateRequestErrors walks RFC 8656 §7.2 steps 3–9 with
// one client: each refused Allocate creates nothing, is integrity-protected
// and carries SOFTWARE (RFC 8656 §5).
func TestConformanceAllocateRequestErrors(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	udp := func(b *stunmsg.Builder) { b.AddRequestedTransport(stunmsg.ProtoUDP) }
	token := func(b *stunmsg.Builder) { b.Add(stunmsg.AttrReservationToken, []byte("8-bytes!")) }
	v6 := func(t uint16) msgBuilder {
		return func(b *stunmsg.Builder) { b.AddAddressFamily(t, stunmsg.FamilyIPv6) }
	}
	all := func(fs ...msgBuilder) msgBuilder {
		return func(b *stunmsg.Builder) {
			for _, f := range fs {
				f(b)
			}
		}
	}
	cases := []struct {
		name  string
		note  string
		attrs msgBuilder
		code  int
	}{
		{"no REQUESTED-TRANSPORT", "RFC 8656 §7.2 step 3", nil, 400},
		{"REQUESTED-TRANSPORT of 2 bytes", "RFC 8656 §7.2 step 3", func(b *stunmsg.Builder) { b.Add(stunmsg.AttrRequestedTransport, []byte{17, 0}) }, 400},
		{"REQUESTED-TRANSPORT TCP", "RFC 8656 §7.2 step 3, RFC 6062 not served", func(b *stunmsg.Builder) { b.AddRequestedTransport(stunmsg.ProtoTCP) }, 442},
		{"REQUESTED-TRANSPORT ICMP", "RFC 8656 §7.2 step 3", func(b *stunmsg.Builder) { b.AddRequestedTransport(1) }, 442},
		{"RESERVATION-TOKEN with EVEN-PORT", "RFC 8656 §7.2 step 5", all(udp, token, func(b *stunmsg.Builder) { b.AddEvenPort(false) }), 400},
		{"RESERVATION-TOKEN with REQUESTED-ADDRESS-FAMILY", "RFC 8656 §7.2 step 5", all(udp, token, v6(stunmsg.AttrRequestedAddressFamily)), 400},
		{"RESERVATION-TOKEN with ADDITIONAL-ADDRESS-FAMILY", "RFC 8656 §7.2 step 5", all(udp, token, v6(stunmsg.AttrAdditionalAddressFamily)), 400},
		{"unknown RESERVATION-TOKEN", "RFC 8656 §7.2 step 5", all(udp, token), 508},
		{"RESERVATION-TOKEN of 4 bytes", "RFC 8656 §7.2 step 5", all(udp, func(b *stunmsg.Builder) { b.Add(stunmsg.AttrReservationToken, []byte("four")) }), 400},
		{"REQUESTED- and ADDITIONAL-ADDRESS-FAMILY", "RFC 8656 §7.2 step 6", all(udp, v6(stunmsg.AttrRequestedAddressFamily), v6(stunmsg.AttrAdditionalAddressFamily)), 400},
		{"REQUESTED-ADDRESS-FAMILY 0x03", "RFC 8656 §7.2 step 7", all(udp, func(b *stunmsg.Builder) { b.AddAddressFamily(stunmsg.AttrRequestedAddressFamily, 3) }), 440},
		{"REQUESTED-ADDRESS-FAMILY of 1 byte", "RFC 8656 §7.2 step 7", all(udp, func(b *stunmsg.Builder) { b.Add(stunmsg.AttrRequestedAddressFamily, []byte{2}) }), 400},
		{"EVEN-PORT R=1 with ADDITIONAL-ADDRESS-FAMILY", "RFC 8656 §7.2 step 8", all(udp, func(b *stunmsg.Builder) { b.AddEvenPort(true) }, v6(stunmsg.AttrAdditionalAddressFamily)), 400},
		{"EVEN-PORT of 4 bytes", "RFC 8656 §7.2 step 8", all(udp, func(b *stunmsg.Builder) { b.Add(stunmsg.AttrEvenPort, []byte{0x80, 0, 0, 0}) }), 400},
		{"ADDITIONAL-ADDRESS-FAMILY IPv4", "RFC 8656 §7.2 step 9", all(udp, func(b *stunmsg.Builder) { b.AddAddressFamily(stunmsg.AttrAdditionalAddressFamily, stunmsg.FamilyIPv4) }), 400},
		{"LIFETIME of 2 bytes", "RFC 8656 §18.2", all(udp, func(b *stunmsg.Builder) { b.Add(stunmsg.AttrLifetime, []byte{0, 1}) }), 400},
	}
	for _, tc := range cases {
		t.Run(tc.note+": "+tc.name, func(t *testing.T) {
			c.t = t
			m := c.request(stunmsg.Allocate, tc.attrs)
			requireCode(t, m, tc.code)
			requireIntegrity(t, m, c.key)
			requireSoftware(t, m)
			if lookupAllocation(srv, c.fiveTuple()) != nil {
				t.Fatal("a refused Allocate left an allocation")
			}
		})
	}
	c.t = t
	c.allocate()
}

// TestConformanceAllocateFamilies covers address families (RFC 8656 §7.2
// steps 7 and 9):
// IPv6 on request, both with ADDITIONAL-ADDRESS-FAMILY (IPv4 first), 440 for
// a family the relay does not serve, and ADDRESS-ERROR-CODE when only the
// additional family is missing.
func TestConformanceAllocateFamilies(t *testing.T) {
	t.Parallel()
	dual := newTestServer(t)
	only4 := newTestServer(t, withRelayIPs("127.0.0.1"))
	only6 := newTestServer(t, withRelayIPs("::1"))
	family := func(attr uint16, f stunmsg.Family) msgBuilder {
		return func(b *stunmsg.Builder) { b.AddAddressFamily(attr, f) }
	}
	cases := []struct {
		name     string
		srv      *testServer
		attrs    msgBuilder
		code     int
		relayed  []netip.Addr
		addrCode int // ADDRESS-ERROR-CODE for IPv6, 0 for none
	}{
		{"default is IPv4", dual, nil, 0, []netip.Addr{loopback4}, 0},
		{"REQUESTED IPv4", dual, family(stunmsg.AttrRequestedAddressFamily, stunmsg.FamilyIPv4), 0, []netip.Addr{loopback4}, 0},
		{"REQUESTED IPv6", dual, family(stunmsg.AttrRequestedAddressFamily, stunmsg.FamilyIPv6), 0, []netip.Addr{loopback6}, 0},
		{"ADDITIONAL IPv6", dual, family(stunmsg.AttrAdditionalAddressFamily, stunmsg.FamilyIPv6), 0, []netip.Addr{loopback4, loopback6}, 0},
		{"REQUESTED IPv6 on an IPv4-only relay", only4, family(stunmsg.AttrRequestedAddressFamily, stunmsg.FamilyIPv6), 440, nil, 0},
		{"ADDITIONAL IPv6 on an IPv4-only relay", only4, family(stunmsg.AttrAdditionalAddressFamily, stunmsg.FamilyIPv6), 0, []netip.Addr{loopback4}, 440},
		{"default on an IPv6-only relay", only6, nil, 440, nil, 0},
		{"REQUESTED IPv4 on an IPv6-only relay", only6, family(stunmsg.AttrRequestedAddressFamily, stunmsg.FamilyIPv4), 440, nil, 0},
		{"REQUESTED IPv6 on an IPv6-only relay", only6, family(stunmsg.AttrRequestedAddressFamily, stunmsg.FamilyIPv6), 0, []netip.Addr{loopback6}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newRawClient(t, tc.srv.udp, "udp4")
			m := c.allocateWith(tc.attrs)
			requireCode(t, m, tc.code)
			requireIntegrity(t, m, c.key)
			relayed := allXORAddrs(t, m, stunmsg.AttrXORRelayedAddress)
			if len(relayed) != len(tc.relayed) {
				t.Fatalf("%d XOR-RELAYED-ADDRESS, want %d", len(relayed), len(tc.relayed))
			}
			for i, ip := range tc.relayed {
				requireRelayed(t, relayed[i], ip)
			}
			v, ok := m.Get(stunmsg.AttrAddressErrorCode)
			if ok != (tc.addrCode != 0) {
				t.Fatalf("ADDRESS-ERROR-CODE present %v, want %v", ok, tc.addrCode != 0)
			}
			if ok {
				fam, code, _, err := stunmsg.DecodeAddressErrorCode(v)
				if err != nil || fam != stunmsg.FamilyIPv6 || code != tc.addrCode {
					t.Fatalf("ADDRESS-ERROR-CODE family %d code %d (%v), want IPv6 %d", fam, code, err, tc.addrCode)
				}
			}
		})
	}
}

// TestConformanceAllocateIPv6Client: the relayed family does not follow the
// client's: without REQUESTED-ADDRESS-FAMILY an IPv6 client gets an IPv4
// relayed address, and XOR-MAPPED-ADDRESS is its IPv6 source (RFC 8656
// §7.2).
func TestConformanceAllocateIPv6Client(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, withUDP6Listener)
	c := newRawClient(t, srv.UDPAddrs()[1], "udp6")
	m := c.allocateWith(nil)
	requireCode(t, m, 0)
	requireRelayed(t, xorAddr(t, m, stunmsg.AttrXORRelayedAddress), loopback4)
	if got := xorAddr(t, m, stunmsg.AttrXORMappedAddress); got != c.addr() {
		t.Fatalf("XOR-MAPPED-ADDRESS %s, want %s", got, c.addr())
	}
}

// TestConformanceAllocateEvenPort: EVEN-PORT gives an even port; with R=1 it
// also reserves port+1 under a RESERVATION-TOKEN that another client can
// use once (RFC 8656 §7.2).
func TestConformanceAllocateEvenPort(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	even := newRawClient(t, srv.udp, "udp4")
	m := even.allocateWith(func(b *stunmsg.Builder) { b.AddEvenPort(false) })
	requireCode(t, m, 0)
	if p := xorAddr(t, m, stunmsg.AttrXORRelayedAddress).Port(); p%2 != 0 {
		t.Fatalf("EVEN-PORT gave port %d", p)
	}
	if m.Contains(stunmsg.AttrReservationToken) {
		t.Fatal("RESERVATION-TOKEN for R=0")
	}

	first := newRawClient(t, srv.udp, "udp4")
	m = first.allocateWith(func(b *stunmsg.Builder) { b.AddEvenPort(true) })
	requireCode(t, m, 0)
	base := xorAddr(t, m, stunmsg.AttrXORRelayedAddress)
	if base.Port()%2 != 0 {
		t.Fatalf("EVEN-PORT R=1 gave port %d", base.Port())
	}
	tokenValue, ok := m.Get(stunmsg.AttrReservationToken)
	if !ok || len(tokenValue) != 8 {
		t.Fatalf("RESERVATION-TOKEN %x (present %v), want 8 bytes", tokenValue, ok)
	}
	token := append([]byte(nil), tokenValue...)
	useToken := func(b *stunmsg.Builder) { b.Add(stunmsg.AttrReservationToken, token) }

	second := newRawClient(t, srv.udp, "udp4")
	m = second.allocateWith(useToken)
	requireCode(t, m, 0)
	if got := xorAddr(t, m, stunmsg.AttrXORRelayedAddress); got != netip.AddrPortFrom(base.Addr(), base.Port()+1) {
		t.Fatalf("reserved allocation at %s, want %s:%d", got, base.Addr(), base.Port()+1)
	}
	third := newRawClient(t, srv.udp, "udp4")
	m = third.allocateWith(useToken)
	requireCode(t, m, 508)
	requireIntegrity(t, m, third.key)
}

// TestConformanceAllocateLifetime: LIFETIME 0/30/599 → 600, 1200 → 1200,
// 7200 → 3600, absent → 600; Allocate never treats 0 as delete (RFC 8656
// §6, §7.2).
func TestConformanceAllocateLifetime(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	for _, tc := range []struct {
		name      string
		requested int64 // -1: no LIFETIME
		granted   uint32
	}{
		{"absent", -1, 600},
		{"0", 0, 600},
		{"30", 30, 600},
		{"599", 599, 600},
		{"1200", 1200, 1200},
		{"3600", 3600, 3600},
		{"7200", 7200, 3600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newRawClient(t, srv.udp, "udp4")
			m := c.allocateWith(func(b *stunmsg.Builder) {
				if tc.requested >= 0 {
					b.AddUint32(stunmsg.AttrLifetime, uint32(tc.requested))
				}
			})
			requireCode(t, m, 0)
			if got := lifetimeOf(t, m); got != tc.granted {
				t.Fatalf("LIFETIME %d, want %d", got, tc.granted)
			}
			a := lookupAllocation(srv, c.fiveTuple())
			if a == nil {
				t.Fatal("no allocation")
			}
			granted := time.Duration(tc.granted) * time.Second
			if left := a.Remaining(mono.Now()); left > granted || left < granted-10*time.Second {
				t.Fatalf("table expiry in %v, want about %v", left, granted)
			}
		})
	}
}

// TestConformanceAllocateQuota: beyond the per-user quota Allocate is 486;
// other users are unaffected and a deleted allocation frees the slot
// (RFC 8656 §5, §7.2 step 10: quotas keyed by username).
func TestConformanceAllocateQuota(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, withAllocationConfig(func(a *allocation.Config) { a.UserQuota = 1 }))
	first := newRawClient(t, srv.udp, "udp4")
	first.allocate()
	second := newRawClient(t, srv.udp, "udp4")
	m := second.allocateWith(nil)
	requireCode(t, m, 486)
	requireIntegrity(t, m, second.key)
	requireSoftware(t, m)
	other := newRawClient(t, srv.udp, "udp4")
	other.withUser("someone-else")
	other.allocate()
	requireCode(t, first.request(stunmsg.Refresh, func(b *stunmsg.Builder) { b.AddUint32(stunmsg.AttrLifetime, 0) }), 0)
	second.allocate()
}

// TestConformanceAllocateDuplicateAttributes: of duplicate attributes only
// the first is processed (RFC 8489 §14).
func TestConformanceAllocateDuplicateAttributes(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	m := c.request(stunmsg.Allocate, func(b *stunmsg.Builder) {
		b.AddRequestedTransport(stunmsg.ProtoUDP)
		b.AddRequestedTransport(stunmsg.ProtoTCP)
		b.AddUint32(stunmsg.AttrLifetime, 1200)
		b.AddUint32(stunmsg.AttrLifetime, 3600)
	})
	requireCode(t, m, 0)
	if got := lifetimeOf(t, m); got != 1200 {
		t.Fatalf("LIFETIME %d, want 1200 from the first LIFETIME", got)
	}
}

// TestConformanceAllocateTotalQuota: beyond the relay-wide allocation limit
// every user gets 486 (RFC 8656 §7.2 step 10, §21.3.1).
func TestConformanceAllocateTotalQuota(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, withAllocationConfig(func(a *allocation.Config) { a.TotalQuota = 1 }))
	newRawClient(t, srv.udp, "udp4").allocate()
	c := newRawClient(t, srv.udp, "udp4")
	c.withUser("another-user")
	m := c.allocateWith(nil)
	requireCode(t, m, 486)
	requireIntegrity(t, m, c.key)
}

// TestConformanceAllocateDontFragment: the relay sets DF on relayed sockets,
// so DONT-FRAGMENT is accepted rather than answered with 420 (RFC 8656 §7.2
// step 4).
func TestConformanceAllocateDontFragment(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	m := c.allocateWith(func(b *stunmsg.Builder) { b.Add(stunmsg.AttrDontFragment, nil) })
	requireCode(t, m, 0)
	if m.Contains(stunmsg.AttrUnknownAttributes) {
		t.Fatal("DONT-FRAGMENT reported as unknown")
	}
}

// TestConformanceAllocateDraining: a draining relay refuses new allocations
// with 403, or with an integrity-protected 300 naming an ALTERNATE-SERVER of
// the client's family when alternates are configured, while existing
// allocations keep working (RFC 8489 §10).
func TestConformanceAllocateDraining(t *testing.T) {
	t.Parallel()
	alternate4 := netip.MustParseAddrPort("127.0.0.9:3478")
	plain := newTestServer(t)
	redirecting := newTestServer(t, func(c *Config) {
		c.AlternateServers = []netip.AddrPort{netip.MustParseAddrPort("[::1]:3478"), alternate4}
	})
	for _, tc := range []struct {
		name string
		srv  *testServer
		code int
	}{
		{"403 without alternates", plain, 403},
		{"300 with an alternate", redirecting, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			existing := newRawClient(t, tc.srv.udp, "udp4")
			existing.allocate()
			tc.srv.Drain()
			c := newRawClient(t, tc.srv.udp, "udp4")
			m := c.allocateWith(nil)
			requireCode(t, m, tc.code)
			requireIntegrity(t, m, c.key)
			if tc.code == 300 {
				v, ok := m.Get(stunmsg.AttrAlternateServer)
				if !ok {
					t.Fatal("300 without ALTERNATE-SERVER")
				}
				if alt, err := stunmsg.DecodeAddress(v); err != nil || alt != alternate4 {
					t.Fatalf("ALTERNATE-SERVER %s (%v), want %s", alt, err, alternate4)
				}
			}
			requireCode(t, existing.request(stunmsg.Refresh, nil), 0)
		})
	}
}
