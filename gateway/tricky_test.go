package gateway

// The cases where a translating gateway most easily goes wrong, one test
// each, named for the behaviour it pins (docs/gateway.md describes it): a
// family without records, filters, ICMP errors judged by their flow,
// re-resolution, two names with one real IP, flow timers, access and CIDR
// resources, floods. That every ICMP error names the proxy address the
// client sent to is the property test in property_test.go
// (TestTricky12_EveryICMPErrorNamesTheProxyAddress). Time is injected;
// nothing sleeps.

import (
	"fmt"
	"net/netip"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func TestTricky01_FamilyWithoutRecords(t *testing.T) {
	s := newTestGateway(t, exampleResources, nil).NewSession("alice")

	// Only A records: the IPv6 proxy has nothing to map to.
	p4, p6 := proxiesFor(t, s, "only-a.media.internal", addrs("192.0.2.10"), nil, at(0))
	for i := range p6 {
		dst := ap(p6[i], 443)
		wantRefuse(t, "IPv6 proxy, A only", s.Outbound(dst, at(1)), ReasonNoRecords, dst, ICMPv6AddressUnreachable)
	}
	want(t, "IPv4 proxy, A only", s.Outbound(ap(p4[0], 443), at(1)), ActionSend, ReasonTranslated, app("192.0.2.10:443"))

	// Only AAAA records: the IPv4 proxy has nothing to map to.
	q4, q6 := proxiesFor(t, s, "only-aaaa.media.internal", nil, addrs("2001:db8::10"), at(2))
	wantRefuse(t, "IPv4 proxy, AAAA only", s.Outbound(ap(q4[1], 443), at(3)), ReasonNoRecords, ap(q4[1], 443), ICMPv4NetUnreachable)
	want(t, "IPv6 proxy, AAAA only", s.Outbound(ap(q6[1], 443), at(3)), ActionSend, ReasonTranslated, app("[2001:db8::10]:443"))

	// A domain that did not resolve at all: both families unreachable.
	r4, r6 := proxiesFor(t, s, "nothing.media.internal", nil, nil, at(4))
	wantRefuse(t, "unresolved, IPv4", s.Outbound(ap(r4[2], 80), at(5)), ReasonNoRecords, ap(r4[2], 80), ICMPv4NetUnreachable)
	wantRefuse(t, "unresolved, IPv6", s.Outbound(ap(r6[2], 80), at(5)), ReasonNoRecords, ap(r6[2], 80), ICMPv6AddressUnreachable)
}

func TestTricky02_FilterDeniesPort(t *testing.T) {
	s := newTestGateway(t, exampleResources, nil).NewSession("alice")
	p4, p6 := proxiesFor(t, s, "sip.internal", addrs("192.0.2.20"), addrs("2001:db8::20"), at(0))
	wantRefuse(t, "IPv4 port 7000", s.Outbound(ap(p4[0], 7000), at(1)), ReasonFilterDenied, ap(p4[0], 7000), ICMPv4Prohibited)
	wantRefuse(t, "IPv6 port 7000", s.Outbound(ap(p6[0], 7000), at(1)), ReasonFilterDenied, ap(p6[0], 7000), ICMPv6Prohibited)
	want(t, "IPv4 port 5060", s.Outbound(ap(p4[0], 5060), at(1)), ActionSend, ReasonTranslated, app("192.0.2.20:5060"))
	want(t, "IPv6 port 5080", s.Outbound(ap(p6[0], 5080), at(1)), ActionSend, ReasonTranslated, app("[2001:db8::20]:5080"))

	// The filter is checked before the records: with only A records the
	// IPv6 proxy is prohibited on a denied port, unreachable on an allowed
	// one.
	lookup(t, s, "sip.internal", dnsmessage.TypeA, addrs("192.0.2.20"), nil, at(2))
	wantRefuse(t, "IPv6 port 7000, no AAAA", s.Outbound(ap(p6[1], 7000), at(3)), ReasonFilterDenied, ap(p6[1], 7000), ICMPv6Prohibited)
	wantRefuse(t, "IPv6 port 5070, no AAAA", s.Outbound(ap(p6[1], 5070), at(3)), ReasonNoRecords, ap(p6[1], 5070), ICMPv6AddressUnreachable)
	lookup(t, s, "sip.internal", dnsmessage.TypeA, nil, addrs("2001:db8::20"), at(4))
	wantRefuse(t, "IPv4 port 7000, no A", s.Outbound(ap(p4[1], 7000), at(5)), ReasonFilterDenied, ap(p4[1], 7000), ICMPv4Prohibited)
}

func TestTricky03_PortUnreachableThroughFilterWithoutICMP(t *testing.T) {
	const res = `{"resources": [{"name": "voip", "domain": "sip.internal", "users": ["*"],
		"filters": [{"protocol": "udp", "ports": "5060-5080"}]}]}`
	s := newTestGateway(t, res, nil).NewSession("alice")
	p4, p6 := proxiesFor(t, s, "sip.internal", addrs("192.0.2.30"), addrs("2001:db8::30"), at(0))
	want(t, "send 5061", s.Outbound(ap(p4[3], 5061), at(1)), ActionSend, ReasonTranslated, app("192.0.2.30:5061"))
	portUnreachable := ICMP{Type: 3, Code: 3}
	v := s.InboundICMP(app("192.0.2.30:5061"), portUnreachable, at(1.001))
	want(t, "ICMPv4 3/3", v, ActionDeliver, ReasonTranslated, ap(p4[3], 5061))
	if v.ICMP != portUnreachable {
		t.Errorf("ICMP changed: %+v", v.ICMP)
	}

	want(t, "send v6 5061", s.Outbound(ap(p6[2], 5061), at(2)), ActionSend, ReasonTranslated, app("[2001:db8::30]:5061"))
	v = s.InboundICMP(app("[2001:db8::30]:5061"), ICMP{Type: 1, Code: 4}, at(2.001))
	want(t, "ICMPv6 1/4", v, ActionDeliver, ReasonTranslated, ap(p6[2], 5061))
}

func TestTricky04_ReResolutionKeepsLiveFlow(t *testing.T) {
	s := newTestGateway(t, exampleResources, nil).NewSession("alice")
	p4 := lookup(t, s, "app.media.internal", dnsmessage.TypeA, addrs("192.0.2.1"), nil, at(0))
	flow := ap(p4[0], 5000)
	want(t, "first datagram", s.Outbound(flow, at(1)), ActionSend, ReasonTranslated, app("192.0.2.1:5000"))
	want(t, "first reply", s.Inbound(app("192.0.2.1:5000"), at(1.01)), ActionDeliver, ReasonTranslated, flow)

	// The domain moves. The proxy IPs stay; the live flow keeps its real IP
	// for hours, as long as it stays active.
	if got := lookup(t, s, "app.media.internal", dnsmessage.TypeA, addrs("192.0.2.2"), nil, at(2)); got[0] != p4[0] {
		t.Fatalf("proxy IPs changed on re-resolution: %v then %v", p4, got)
	}
	for sec := 10.0; sec < 3*3600; sec += 100 {
		want(t, "live flow", s.Outbound(flow, at(sec)), ActionSend, ReasonTranslated, app("192.0.2.1:5000"))
		want(t, "live reply", s.Inbound(app("192.0.2.1:5000"), at(sec+0.5)), ActionDeliver, ReasonTranslated, flow)
		s.Expire(at(sec + 1))
	}
	// A new flow (another port) goes to the new real IP.
	now := at(3 * 3600)
	want(t, "new flow", s.Outbound(ap(p4[0], 5001), now), ActionSend, ReasonTranslated, app("192.0.2.2:5001"))
	want(t, "new reply", s.Inbound(app("192.0.2.2:5001"), now), ActionDeliver, ReasonTranslated, ap(p4[0], 5001))
	// The old real IP on the new port is no flow of ours.
	want(t, "old IP, new port", s.Inbound(app("192.0.2.1:5001"), now), ActionPass, ReasonNotGateway, netip.AddrPort{})
}

func TestTricky05_TwoDomainsOneRealIP(t *testing.T) {
	s := newTestGateway(t, exampleResources, nil).NewSession("alice")
	pa, pa6 := proxiesFor(t, s, "a.media.internal", addrs("192.0.2.7"), addrs("2001:db8::7"), at(0))
	pb, pb6 := proxiesFor(t, s, "b.media.internal", addrs("192.0.2.7"), addrs("2001:db8::7"), at(0))
	real := app("192.0.2.7:5000")

	want(t, "flow a", s.Outbound(ap(pa[0], 5000), at(1)), ActionSend, ReasonTranslated, real)
	wantRefuse(t, "flow b, same real IP:port", s.Outbound(ap(pb[0], 5000), at(1)), ReasonFlowCollision, ap(pb[0], 5000), ICMPv4Prohibited)
	wantRefuse(t, "second proxy of a, same real IP:port", s.Outbound(ap(pa[1], 5000), at(1)), ReasonFlowCollision, ap(pa[1], 5000), ICMPv4Prohibited)
	want(t, "reply", s.Inbound(real, at(2)), ActionDeliver, ReasonTranslated, ap(pa[0], 5000))

	// Other ports and the other family stay usable for b.
	want(t, "flow b, other port", s.Outbound(ap(pb[0], 5001), at(3)), ActionSend, ReasonTranslated, app("192.0.2.7:5001"))
	want(t, "reply b", s.Inbound(app("192.0.2.7:5001"), at(3)), ActionDeliver, ReasonTranslated, ap(pb[0], 5001))
	want(t, "flow b over IPv6", s.Outbound(ap(pb6[0], 5000), at(3)), ActionSend, ReasonTranslated, app("[2001:db8::7]:5000"))
	wantRefuse(t, "flow a over IPv6 collides", s.Outbound(ap(pa6[0], 5000), at(3)), ReasonFlowCollision, ap(pa6[0], 5000), ICMPv6Prohibited)

	// Once a's flow expires, b may take the real IP:port, and replies
	// follow b.
	now := at(2 + 120)
	want(t, "flow b after a expired", s.Outbound(ap(pb[0], 5000), now), ActionSend, ReasonTranslated, real)
	want(t, "reply to b", s.Inbound(real, now), ActionDeliver, ReasonTranslated, ap(pb[0], 5000))
	if v := s.Outbound(ap(pa[0], 5000), now); v.Action != ActionRefuse || v.Reason != ReasonFlowCollision {
		t.Errorf("a after b took the real address: %v", v)
	}
}

func TestTricky06_Timers(t *testing.T) {
	gw := newTestGateway(t, exampleResources, nil)
	setup := func(t *testing.T) (*Session, netip.AddrPort, netip.AddrPort) {
		s := gw.NewSession("alice")
		p4 := lookup(t, s, "t.media.internal", dnsmessage.TypeA, addrs("192.0.2.40"), nil, at(0))
		return s, ap(p4[0], 6000), app("192.0.2.40:6000")
	}
	t.Run("reply at 119 s delivered, at 120 s dropped", func(t *testing.T) {
		s, flow, real := setup(t)
		want(t, "out", s.Outbound(flow, at(0)), ActionSend, ReasonTranslated, real)
		want(t, "reply at 0 s", s.Inbound(real, at(0)), ActionDeliver, ReasonTranslated, flow)
		want(t, "reply at 119 s", s.Inbound(real, at(119)), ActionDeliver, ReasonTranslated, flow)
		want(t, "reply at 238.999 s", s.Inbound(real, at(238.999)), ActionDeliver, ReasonTranslated, flow)
		want(t, "reply 120 s after the last", s.Inbound(real, at(358.999)), ActionDrop, ReasonExpiredFlow, real)
	})
	t.Run("exactly 120 s idle", func(t *testing.T) {
		s, flow, real := setup(t)
		s.Outbound(flow, at(0))
		s.Inbound(real, at(0))
		s.Expire(at(119.999))
		want(t, "reply at 119.999 s", s.Inbound(real, at(119.999)), ActionDeliver, ReasonTranslated, flow)
		s.Expire(at(239.999))
		want(t, "reply at 239.999 s", s.Inbound(real, at(239.999)), ActionDrop, ReasonExpiredFlow, real)
	})
	t.Run("unanswered flow gone at 60 s", func(t *testing.T) {
		s, flow, real := setup(t)
		s.Outbound(flow, at(0))
		if d, ok := s.NextDeadline(); !ok || d != at(60) {
			t.Fatalf("NextDeadline = %v %v, want 60 s", d, ok)
		}
		s.Expire(at(59.999))
		if len(s.nat.byClient) != 1 {
			t.Fatal("flow expired early")
		}
		s.Expire(at(60))
		if len(s.nat.byClient) != 0 {
			t.Fatal("unanswered flow still live at 60 s")
		}
		want(t, "reply at 60 s", s.Inbound(real, at(60)), ActionDrop, ReasonExpiredFlow, real)
		// A new flow after expiry works and is answered.
		want(t, "new flow", s.Outbound(flow, at(61)), ActionSend, ReasonTranslated, real)
		want(t, "its reply", s.Inbound(real, at(61.5)), ActionDeliver, ReasonTranslated, flow)
	})
	t.Run("outbound keeps an unanswered flow alive", func(t *testing.T) {
		s, flow, real := setup(t)
		s.Outbound(flow, at(0))
		s.Outbound(flow, at(50))
		want(t, "reply at 109 s", s.Inbound(real, at(109)), ActionDeliver, ReasonTranslated, flow)
	})
	t.Run("ICMP error counts as inbound activity", func(t *testing.T) {
		s, flow, real := setup(t)
		s.Outbound(flow, at(0))
		want(t, "icmp at 50 s", s.InboundICMP(real, ICMP{Type: 3, Code: 3}, at(50)), ActionDeliver, ReasonTranslated, flow)
		want(t, "reply at 169 s", s.Inbound(real, at(169)), ActionDeliver, ReasonTranslated, flow)
	})
	t.Run("tombstone forgotten after its lifetime", func(t *testing.T) {
		s, flow, real := setup(t)
		s.Outbound(flow, at(0))
		life := gw.cfg.TombstoneLifetime.Seconds()
		want(t, "just before", s.Inbound(real, at(60+life-0.001)), ActionDrop, ReasonExpiredFlow, real)
		s.Expire(at(60 + life))
		if d, ok := s.NextDeadline(); ok {
			t.Errorf("deadline %v left after everything expired", d)
		}
		// Forgotten: an ordinary datagram from that address again.
		want(t, "after", s.Inbound(real, at(60+life)), ActionPass, ReasonNotGateway, real)
	})
}

func TestTricky07_FragmentationNeeded(t *testing.T) {
	s := newTestGateway(t, exampleResources, nil).NewSession("alice")
	p4, p6 := proxiesFor(t, s, "big.media.internal", addrs("192.0.2.50"), addrs("2001:db8::50"), at(0))
	for _, tc := range []struct {
		proxy netip.Addr
		real  netip.AddrPort
		icmp  ICMP
	}{
		{p4[1], app("192.0.2.50:7000"), ICMP{Type: 3, Code: 4, Data: 1400}},
		{p6[1], app("[2001:db8::50]:7000"), ICMP{Type: 2, Code: 0, Data: 1280}},
	} {
		flow := ap(tc.proxy, 7000)
		want(t, "send", s.Outbound(flow, at(1)), ActionSend, ReasonTranslated, tc.real)
		v := s.InboundICMP(tc.real, tc.icmp, at(1.1))
		want(t, "frag needed", v, ActionDeliver, ReasonTranslated, flow)
		if v.ICMP != tc.icmp {
			t.Errorf("delivered ICMP %+v, want %+v (MTU kept)", v.ICMP, tc.icmp)
		}
	}
}

func TestTricky08_ICMPForUnknownOrExpiredFlowDropped(t *testing.T) {
	s := newTestGateway(t, exampleResources, nil).NewSession("alice")
	p4 := lookup(t, s, "x.media.internal", dnsmessage.TypeA, addrs("192.0.2.60"), nil, at(0))
	unreach := ICMP{Type: 3, Code: 1}
	for _, q := range []netip.AddrPort{
		app("192.0.2.60:9999"),             // a real IP of ours, no flow on that port
		ap(p4[0], 9999),                    // a proxy IP (the relay never sends to one)
		app("100.100.111.1:53"),            // the sentinel
		app("10.9.0.5:9000"),               // a CIDR resource address without a flow
		app("[fd00:2021:1111:8000::99]:1"), // the IPv6 proxy range
	} {
		want(t, fmt.Sprintf("unknown %v", q), s.InboundICMP(q, unreach, at(1)), ActionDrop, ReasonNoFlow, q)
	}
	// An expired flow: dropped while remembered, and still dropped after.
	real := app("192.0.2.60:8000")
	s.Outbound(ap(p4[0], 8000), at(1))
	s.Expire(at(61))
	want(t, "expired flow", s.InboundICMP(real, unreach, at(61)), ActionDrop, ReasonExpiredFlow, real)
	s.Expire(at(10000))
	want(t, "forgotten flow", s.InboundICMP(real, unreach, at(10000)), ActionDrop, ReasonNoFlow, real)
	// Errors about ordinary peers follow the relay's ordinary rules.
	want(t, "ordinary peer", s.InboundICMP(app("198.51.100.1:3478"), unreach, at(1)), ActionPass, ReasonNotGateway, app("198.51.100.1:3478"))
}

func TestTricky09_UserNotListed(t *testing.T) {
	gw := newTestGateway(t, exampleResources, nil)
	alice := gw.NewSession("alice")
	p4, p6 := proxiesFor(t, alice, "sip.internal", addrs("192.0.2.70"), addrs("2001:db8::70"), at(0))

	carol := gw.NewSession("carol")
	v, _, ans := carol.Query(buildQuery(t, 9, "sip.internal", dnsmessage.TypeA), at(0), nil)
	want(t, "carol's query", v, ActionAnswer, ReasonDNSRefused, netip.AddrPort{})
	if m, got := parseAnswer(t, ans); m.RCode != dnsmessage.RCodeRefused || len(got) != 0 || m.ID != 9 {
		t.Errorf("carol got rcode %v, id %d, addresses %v", m.RCode, m.ID, got)
	}
	if len(carol.domains) != 0 {
		t.Errorf("a refused query created state: %v", carol.domains)
	}
	for _, p := range []netip.Addr{p4[0], p6[3]} {
		want(t, "carol permits alice's proxy", carol.Permit(p), ActionForbid, ReasonUnknownProxy, ap(p, 0))
		wantRefuse(t, "carol sends to it", carol.Outbound(ap(p, 5060), at(1)), ReasonUnknownProxy, ap(p, 5060), prohibitedFor(p))
	}
	want(t, "alice permits", alice.Permit(p4[0]), ActionAllow, ReasonProxy, ap(p4[0], 0))
	want(t, "alice permits the sentinel", alice.Permit(netip.MustParseAddr("100.100.111.1")), ActionAllow, ReasonSentinel, netip.AddrPort{})

	// Access expired: a reload removes alice from voip.
	want(t, "alice sends", alice.Outbound(ap(p4[0], 5060), at(2)), ActionSend, ReasonTranslated, app("192.0.2.70:5060"))
	if err := gw.Reload([]byte(`{"resources": [{"name": "voip", "domain": "sip.internal", "users": ["bob"]}]}`)); err != nil {
		t.Fatal(err)
	}
	want(t, "alice permits after reload", alice.Permit(p4[0]), ActionForbid, ReasonNoAccess, ap(p4[0], 0))
	wantRefuse(t, "alice's live flow", alice.Outbound(ap(p4[0], 5060), at(3)), ReasonNoAccess, ap(p4[0], 5060), ICMPv4Prohibited)
	wantRefuse(t, "alice's IPv6 proxy", alice.Outbound(ap(p6[0], 5060), at(3)), ReasonNoAccess, ap(p6[0], 5060), ICMPv6Prohibited)
	want(t, "reply on the revoked flow", alice.Inbound(app("192.0.2.70:5060"), at(3)), ActionDrop, ReasonNoAccess, netip.AddrPort{})
	want(t, "ICMP on the revoked flow", alice.InboundICMP(app("192.0.2.70:5060"), ICMP{Type: 3, Code: 3}, at(3)), ActionDrop, ReasonNoAccess, netip.AddrPort{})
	v, _, _ = alice.Query(buildQuery(t, 10, "sip.internal", dnsmessage.TypeA), at(3), nil)
	want(t, "alice's query after reload", v, ActionAnswer, ReasonDNSRefused, netip.AddrPort{})

	// Access restored before the flow expired: it carries on unchanged.
	if err := gw.Reload([]byte(exampleResources)); err != nil {
		t.Fatal(err)
	}
	want(t, "restored flow", alice.Outbound(ap(p4[0], 5060), at(4)), ActionSend, ReasonTranslated, app("192.0.2.70:5060"))
}

func TestTricky10_CIDRResourceWithFilter(t *testing.T) {
	const res = `{"resources": [
		{"name": "lab", "cidr": "10.9.0.0/24", "users": ["alice"], "filters": [{"protocol": "udp", "ports": "9000"}]},
		{"name": "lab6", "cidr": "2001:db8:9::/64", "users": ["alice"], "filters": [{"protocol": "udp", "ports": "9000"}]}]}`
	gw := newTestGateway(t, res, nil)
	alice, bob := gw.NewSession("alice"), gw.NewSession("bob")

	dst := app("10.9.0.5:9000")
	want(t, "allowed port", alice.Outbound(dst, at(0)), ActionSend, ReasonDirect, dst)
	want(t, "reply", alice.Inbound(dst, at(0.1)), ActionDeliver, ReasonDirect, dst)
	wantRefuse(t, "denied port", alice.Outbound(app("10.9.0.5:9001"), at(0)), ReasonFilterDenied, app("10.9.0.5:9001"), ICMPv4Prohibited)
	wantRefuse(t, "denied port, IPv6", alice.Outbound(app("[2001:db8:9::5]:53"), at(0)), ReasonFilterDenied, app("[2001:db8:9::5]:53"), ICMPv6Prohibited)
	wantRefuse(t, "user not listed", bob.Outbound(dst, at(0)), ReasonNoAccess, dst, ICMPv4Prohibited)

	// A peer in the resource that we have no flow with: its source port is
	// filtered; the relay's permission check still applies.
	want(t, "unsolicited, allowed port", alice.Inbound(app("10.9.0.6:9000"), at(1)), ActionDeliver, ReasonDirect, app("10.9.0.6:9000"))
	want(t, "unsolicited, denied port", alice.Inbound(app("10.9.0.6:9001"), at(1)), ActionDrop, ReasonFilterDenied, app("10.9.0.6:9001"))
	want(t, "unsolicited, user not listed", bob.Inbound(app("10.9.0.6:9000"), at(1)), ActionDrop, ReasonNoAccess, app("10.9.0.6:9000"))

	want(t, "alice permits", alice.Permit(netip.MustParseAddr("10.9.0.5")), ActionAllow, ReasonDirect, netip.AddrPort{})
	want(t, "bob permits", bob.Permit(netip.MustParseAddr("10.9.0.5")), ActionForbid, ReasonNoAccess, netip.AddrPort{})

	// Outside every resource: the default peer policy, untouched.
	for _, out := range []string{"10.9.1.5:9000", "192.0.2.1:9001", "[2001:db8:a::1]:9000"} {
		want(t, "outside "+out, alice.Outbound(app(out), at(2)), ActionPass, ReasonNotGateway, app(out))
		want(t, "inbound "+out, alice.Inbound(app(out), at(2)), ActionPass, ReasonNotGateway, app(out))
		want(t, "permit "+out, alice.Permit(app(out).Addr()), ActionPass, ReasonNotGateway, netip.AddrPort{})
	}
}

func TestTricky11_MalformedOtherNamesAndFloods(t *testing.T) {
	gw := newTestGateway(t, exampleResources, func(c *Config) { c.MaxDomains = 8 })
	s := gw.NewSession("alice")
	good := buildQuery(t, 1, "sip.internal", dnsmessage.TypeA)
	twoQuestions, _ := (&dnsmessage.Message{Questions: []dnsmessage.Question{
		{Name: dnsmessage.MustNewName("a.media.internal."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET},
		{Name: dnsmessage.MustNewName("b.media.internal."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET},
	}}).Pack()
	noQuestion, _ := (&dnsmessage.Message{Header: dnsmessage.Header{ID: 5}}).Pack()
	response := append([]byte(nil), good...)
	response[2] |= 0x80 // QR
	for name, msg := range map[string][]byte{
		"empty":         nil,
		"short header":  good[:11],
		"cut question":  good[:len(good)-3],
		"response":      response,
		"two questions": twoQuestions,
		"no question":   noQuestion,
		"garbage":       []byte("GET / HTTP/1.1\r\n\r\n"),
	} {
		v, _, ans := s.Query(msg, at(0), nil)
		want(t, name, v, ActionDrop, ReasonDNSMalformed, netip.AddrPort{})
		if ans != nil {
			t.Errorf("%s: answered %x", name, ans)
		}
	}
	for _, name := range []string{"example.com.", "internal.", "media.internal.", "sip.internal.evil."} {
		v, _, ans := s.Query(buildQuery(t, 2, name, dnsmessage.TypeA), at(0), nil)
		want(t, name, v, ActionAnswer, ReasonDNSRefused, netip.AddrPort{})
		if m, got := parseAnswer(t, ans); m.RCode != dnsmessage.RCodeRefused || len(got) != 0 {
			t.Errorf("%s: %v %v", name, m.RCode, got)
		}
	}
	if len(s.domains) != 0 {
		t.Fatalf("refused and malformed queries created %d domains", len(s.domains))
	}

	// A flood of distinct names under a wildcard: MaxDomains get proxy IPs,
	// the rest are refused, and state stops growing.
	var resolved, refused int
	for i := range 5000 {
		v, q, _ := s.Query(buildQuery(t, uint16(i), fmt.Sprintf("h%d.media.internal.", i), dnsmessage.TypeAAAA), at(float64(i)/1000), nil)
		switch {
		case v.Action == ActionResolve:
			resolved++
			many := make([]netip.Addr, 1000) // a huge resolver answer costs no state
			for k := range many {
				many[k] = netip.AddrFrom4([4]byte{192, 0, 2, byte(k)})
			}
			s.Resolved(q, many, nil, nil)
		case v.Reason == ReasonDNSDomainLimit:
			refused++
		default:
			t.Fatalf("flood query %d: %v", i, v)
		}
	}
	if resolved != 8 || refused != 5000-8 || len(s.domains) != 8 {
		t.Fatalf("resolved %d, refused %d, domains %d; want 8, %d, 8", resolved, refused, len(s.domains), 5000-8)
	}
	// Repeating known names still works and does not grow anything.
	for range 1000 {
		lookup(t, s, "h3.media.internal", dnsmessage.TypeA, addrs("192.0.2.3"), nil, at(10))
	}
	if len(s.domains) != 8 || len(s.nat.entries) != 0 {
		t.Fatalf("repeat queries grew state: %d domains, %d NAT entries", len(s.domains), len(s.nat.entries))
	}
}
