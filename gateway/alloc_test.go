package gateway

import (
	"net/netip"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// hotPathSession returns a session with one translated flow (proxy → real)
// and one CIDR flow, both answered, plus a snapshot change already judged.
func hotPathSession(tb testing.TB) (s *Session, proxy, real, direct netip.AddrPort) {
	tb.Helper()
	gw := newTestGateway(tb, exampleResources, nil)
	s = gw.NewSession("alice")
	p4 := lookup(tb, s, "sip.internal", dnsmessage.TypeA, addrs("192.0.2.80"), nil, at(0))
	proxy, real, direct = ap(p4[0], 5060), app("192.0.2.80:5060"), app("10.9.0.8:9000")
	for _, dst := range []netip.AddrPort{proxy, direct} {
		if v := s.Outbound(dst, at(0)); v.Action != ActionSend {
			tb.Fatalf("setup %v: %v", dst, v)
		}
	}
	s.Inbound(real, at(0))
	s.Inbound(direct, at(0))
	return s, proxy, real, direct
}

// TestZeroAllocationsOnExistingFlows proves the translated datagram path
// allocates nothing: outbound, inbound and ICMP errors on existing flows,
// including the first datagram after a reload (re-authorization).
func TestZeroAllocationsOnExistingFlows(t *testing.T) {
	s, proxy, real, direct := hotPathSession(t)
	now := at(1)
	for name, fn := range map[string]func(){
		"outbound translated": func() { s.Outbound(proxy, now) },
		"inbound translated":  func() { s.Inbound(real, now) },
		"icmp translated":     func() { s.InboundICMP(real, ICMP{Type: 3, Code: 4, Data: 1400}, now) },
		"outbound direct":     func() { s.Outbound(direct, now) },
		"inbound direct":      func() { s.Inbound(direct, now) },
		"inbound ordinary":    func() { s.Inbound(app("198.51.100.1:4000"), now) },
		"outbound ordinary":   func() { s.Outbound(app("198.51.100.1:4000"), now) },
		"expire":              func() { s.Expire(now) },
	} {
		if n := testing.AllocsPerRun(1000, fn); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, n)
		}
	}

	// Re-judging flows against a new snapshot allocates nothing either.
	gw := s.gw
	snaps := make([]*Snapshot, 2)
	for i := range snaps {
		if err := gw.Reload([]byte(exampleResources)); err != nil {
			t.Fatal(err)
		}
		snaps[i] = gw.Snapshot()
	}
	k := 0
	n := testing.AllocsPerRun(1000, func() {
		k++
		gw.snap.Store(snaps[k%2])
		s.Outbound(proxy, now)
		s.Inbound(real, now)
		s.Outbound(direct, now)
	})
	if n != 0 {
		t.Errorf("re-authorization after reload: %v allocations, want 0", n)
	}
}

// BenchmarkTranslatedDatagram is the relay's per-datagram cost on an
// existing DNS-resource flow: one outbound datagram and its reply.
func BenchmarkTranslatedDatagram(b *testing.B) {
	s, proxy, real, _ := hotPathSession(b)
	now := at(1)
	b.ReportAllocs()
	for b.Loop() {
		if v := s.Outbound(proxy, now); v.Action != ActionSend {
			b.Fatal(v)
		}
		if v := s.Inbound(real, now); v.Action != ActionDeliver {
			b.Fatal(v)
		}
	}
}

// BenchmarkOrdinaryPeer is the cost the gateway adds to a datagram from an
// ordinary (non-gateway) peer.
func BenchmarkOrdinaryPeer(b *testing.B) {
	s, _, _, _ := hotPathSession(b)
	peer := app("198.51.100.1:4000")
	now := at(1)
	b.ReportAllocs()
	for b.Loop() {
		if v := s.Inbound(peer, now); v.Action != ActionPass {
			b.Fatal(v)
		}
	}
}

// BenchmarkDNSQuery is the DNS sentinel's cost per A query (parse, both
// steps, answer).
func BenchmarkDNSQuery(b *testing.B) {
	gw := newTestGateway(b, exampleResources, nil)
	s := gw.NewSession("alice")
	msg := buildQuery(b, 1, "sip.internal", dnsmessage.TypeA)
	real := addrs("192.0.2.80")
	out := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		_, q, _ := s.Query(msg, at(0), out)
		if v, _ := s.Resolved(q, real, nil, out); v.Action != ActionAnswer {
			b.Fatal(v)
		}
	}
}
