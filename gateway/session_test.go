package gateway

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func TestSentinel(t *testing.T) {
	gw := newTestGateway(t, exampleResources, nil)
	s := gw.NewSession("anyone")
	for _, dst := range []netip.AddrPort{app("100.100.111.1:53"), app("[fd00:2021:1111:8000:100:100:111:0]:53")} {
		want(t, "query", s.Outbound(dst, at(0)), ActionDNS, ReasonSentinel, dst)
		want(t, "permit", s.Permit(dst.Addr()), ActionAllow, ReasonSentinel, ap(dst.Addr(), 0))
		other := ap(dst.Addr(), 54)
		want(t, "other port", s.Outbound(other, at(0)), ActionDrop, ReasonSentinelPort, other)
		// Nothing on the real network may pose as the sentinel.
		want(t, "from the sentinel", s.Inbound(dst, at(0)), ActionDrop, ReasonProxySource, dst)
	}
}

func TestProxyRangeIsNeverAPeer(t *testing.T) {
	s := newTestGateway(t, exampleResources, nil).NewSession("alice")
	p4 := lookup(t, s, "sip.internal", dnsmessage.TypeA, addrs("192.0.2.1"), nil, at(0))
	for _, src := range []netip.AddrPort{ap(p4[0], 5060), app("100.127.0.1:1"), app("[fd00:2021:1111:8000::1:1]:1")} {
		want(t, "datagram from a proxy-range address", s.Inbound(src, at(1)), ActionDrop, ReasonProxySource, src)
	}
	unknown := app("100.127.0.1:5060")
	wantRefuse(t, "unassigned proxy", s.Outbound(unknown, at(1)), ReasonUnknownProxy, unknown, ICMPv4Prohibited)
	want(t, "unassigned proxy permit", s.Permit(unknown.Addr()), ActionForbid, ReasonUnknownProxy, netip.AddrPort{})
}

func TestMappedAddresses(t *testing.T) {
	s := newTestGateway(t, exampleResources, nil).NewSession("alice")
	p4 := lookup(t, s, "sip.internal", dnsmessage.TypeA, addrs("192.0.2.1"), nil, at(0))
	for _, a := range []netip.Addr{
		netip.AddrFrom16(p4[0].As16()),                              // a proxy IP
		netip.MustParseAddr("::ffff:100.100.111.1"),                 // the sentinel
		netip.MustParseAddr("::ffff:10.9.0.1"),                      // a CIDR resource
		netip.AddrFrom16(netip.MustParseAddr("100.127.0.1").As16()), // the proxy range
	} {
		want(t, "send to "+a.String(), s.Outbound(ap(a, 5060), at(1)), ActionDrop, ReasonMappedAddress, ap(a, 5060))
		want(t, "permit "+a.String(), s.Permit(a), ActionForbid, ReasonMappedAddress, ap(a, 0))
	}
	ordinary := netip.MustParseAddr("::ffff:198.51.100.1")
	want(t, "ordinary mapped", s.Outbound(ap(ordinary, 1), at(1)), ActionPass, ReasonNotGateway, ap(ordinary, 1))
	want(t, "ordinary mapped permit", s.Permit(ordinary), ActionPass, ReasonNotGateway, ap(ordinary, 0))

	// A reply read from a dual-stack socket in mapped form, or with a zone,
	// is matched in its plain form.
	want(t, "send", s.Outbound(ap(p4[0], 5060), at(1)), ActionSend, ReasonTranslated, app("192.0.2.1:5060"))
	want(t, "mapped reply", s.Inbound(app("[::ffff:192.0.2.1]:5060"), at(2)), ActionDeliver, ReasonTranslated, ap(p4[0], 5060))
	want(t, "mapped ICMP", s.InboundICMP(app("[::ffff:192.0.2.1]:5060"), ICMP{Type: 3, Code: 3}, at(2)), ActionDeliver, ReasonTranslated, ap(p4[0], 5060))
	if got := canonical(app("[fe80::1%eth0]:7")); got != app("[fe80::1]:7") {
		t.Errorf("canonical kept the zone: %v", got)
	}
}

func TestFlowLimit(t *testing.T) {
	s := newTestGateway(t, exampleResources, func(c *Config) { c.MaxFlows = 2 }).NewSession("alice")
	p4 := lookup(t, s, "lim.media.internal", dnsmessage.TypeA, addrs("192.0.2.1"), nil, at(0))
	want(t, "first", s.Outbound(ap(p4[0], 1), at(0)), ActionSend, ReasonTranslated, netip.AddrPort{})
	want(t, "second", s.Outbound(app("10.9.0.1:9000"), at(0)), ActionSend, ReasonDirect, netip.AddrPort{})
	want(t, "third", s.Outbound(ap(p4[0], 3), at(1)), ActionDrop, ReasonFlowLimit, ap(p4[0], 3))
	want(t, "existing flows go on", s.Outbound(ap(p4[0], 1), at(1)), ActionSend, ReasonTranslated, netip.AddrPort{})
	// Once the flows expire there is room again, without calling Expire.
	want(t, "after expiry", s.Outbound(ap(p4[0], 3), at(62)), ActionSend, ReasonTranslated, netip.AddrPort{})
}

func TestReloadRemovesCIDRResource(t *testing.T) {
	gw := newTestGateway(t, exampleResources, nil)
	s := gw.NewSession("alice")
	dst := app("10.9.0.7:9000")
	want(t, "direct", s.Outbound(dst, at(0)), ActionSend, ReasonDirect, dst)
	if err := gw.Reload([]byte(`{"resources": [{"name": "media", "domain": "*.media.internal", "users": ["*"]}]}`)); err != nil {
		t.Fatal(err)
	}
	// No longer a resource: the default peer policy decides, both ways.
	want(t, "outbound after removal", s.Outbound(dst, at(1)), ActionPass, ReasonNotGateway, dst)
	want(t, "permit after removal", s.Permit(dst.Addr()), ActionPass, ReasonNotGateway, netip.AddrPort{})
	want(t, "ICMP after removal", s.InboundICMP(dst, ICMP{Type: 3, Code: 3}, at(1)), ActionPass, ReasonNotGateway, dst)
	if s.nat.live != 0 {
		t.Errorf("%d flows left for a removed CIDR resource", s.nat.live)
	}

	// The same through the inbound path.
	if err := gw.Reload([]byte(exampleResources)); err != nil {
		t.Fatal(err)
	}
	want(t, "direct again", s.Outbound(dst, at(2)), ActionSend, ReasonDirect, dst)
	if err := gw.Reload([]byte(`{"resources": []}`)); err != nil {
		t.Fatal(err)
	}
	want(t, "inbound after removal", s.Inbound(dst, at(3)), ActionPass, ReasonNotGateway, dst)
}

func TestReloadNarrowsFilter(t *testing.T) {
	gw := newTestGateway(t, exampleResources, nil)
	s := gw.NewSession("bob")
	p6 := lookup(t, s, "sip.internal", dnsmessage.TypeAAAA, nil, addrs("2001:db8::1"), at(0))
	flow := ap(p6[0], 5070)
	want(t, "before", s.Outbound(flow, at(0)), ActionSend, ReasonTranslated, app("[2001:db8::1]:5070"))
	if err := gw.Reload([]byte(`{"resources": [{"name": "voip", "domain": "sip.internal", "users": ["bob"],
		"filters": [{"protocol": "udp", "ports": "5060"}]}]}`)); err != nil {
		t.Fatal(err)
	}
	wantRefuse(t, "after", s.Outbound(flow, at(1)), ReasonFilterDenied, flow, ICMPv6Prohibited)
	want(t, "reply after", s.Inbound(app("[2001:db8::1]:5070"), at(1)), ActionDrop, ReasonFilterDenied, netip.AddrPort{})
}

func TestClose(t *testing.T) {
	gw := newTestGateway(t, exampleResources, nil)
	s := gw.NewSession("alice")
	if s.User() != "alice" || gw.Config() != gw.cfg {
		t.Fatal("accessors")
	}
	p4 := lookup(t, s, "sip.internal", dnsmessage.TypeA, addrs("192.0.2.1"), nil, at(0))
	s.Outbound(ap(p4[0], 5060), at(0))
	s.Close()
	if _, ok := s.NextDeadline(); ok || s.domains != nil || s.nat.entries != nil {
		t.Error("state kept after Close")
	}
	s.Expire(at(1))
	want(t, "outbound", s.Outbound(ap(p4[0], 5060), at(1)), ActionDrop, ReasonClosed, netip.AddrPort{})
	want(t, "inbound", s.Inbound(app("192.0.2.1:5060"), at(1)), ActionDrop, ReasonClosed, netip.AddrPort{})
	want(t, "icmp", s.InboundICMP(app("192.0.2.1:5060"), ICMP{Type: 3}, at(1)), ActionDrop, ReasonClosed, netip.AddrPort{})
	want(t, "permit", s.Permit(p4[0]), ActionForbid, ReasonClosed, netip.AddrPort{})
	v, _, ans := s.Query(buildQuery(t, 1, "sip.internal", dnsmessage.TypeA), at(1), nil)
	want(t, "query", v, ActionDrop, ReasonClosed, netip.AddrPort{})
	if v, ans2 := s.Resolved(Query{}, nil, nil, nil); v.Reason != ReasonClosed || ans != nil || ans2 != nil {
		t.Errorf("resolved after close: %v", v)
	}
}

func TestVerdictStrings(t *testing.T) {
	for _, tc := range []struct {
		v    Verdict
		want string
	}{
		{Verdict{Action: ActionRefuse, Reason: ReasonFilterDenied, Addr: app("[fd00::1]:7000"), ICMP: ICMPv6Prohibited},
			"refuse(filter_denied) [fd00::1]:7000 icmp 1/1"},
		{Verdict{Action: ActionDeliver, Reason: ReasonTranslated, Addr: app("100.96.0.4:5061"), ICMP: ICMP{Type: 3, Code: 4, Data: 1400}},
			"deliver(translated) 100.96.0.4:5061 icmp 3/4 data 1400"},
		{Verdict{Action: ActionAnswer, Reason: ReasonDNSAnswered}, "answer(dns_answered)"},
		{Verdict{Action: Action(200), Reason: Reason(200)}, "action(200)(reason(200))"},
	} {
		if got := tc.v.String(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
	// Every defined value has a label.
	for a := ActionPass; a <= ActionForbid; a++ {
		if s := a.String(); s == "" || strings.HasPrefix(s, "action(") {
			t.Errorf("action %d has no label", a)
		}
	}
	for r := ReasonNotGateway; r <= ReasonDNSAnswered; r++ {
		if s := r.String(); s == "" || strings.HasPrefix(s, "reason(") {
			t.Errorf("reason %d has no label", r)
		}
	}
}

func TestResourceErrorUnwraps(t *testing.T) {
	_, err := ParseResources([]byte(`{"resources": [{"name": "a", "domain": "a.internal", "users": ["*"], "filters": [{"protocol": "udp", "ports": "x"}]}]}`))
	var rerr *ResourceError
	if !errors.As(err, &rerr) || rerr.Unwrap() == nil || rerr.Name != "a" {
		t.Fatalf("%v", err)
	}
}

// TestReloadWhileDeciding backs the concurrency claims: Reload may run on
// one goroutine while sessions decide on others (run with -race).
func TestReloadWhileDeciding(t *testing.T) {
	gw := newTestGateway(t, exampleResources, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 200 {
			if err := gw.Reload([]byte(exampleResources)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	s := gw.NewSession("alice")
	p4 := lookup(t, s, "sip.internal", dnsmessage.TypeA, addrs("192.0.2.1"), nil, at(0))
	for i := range 2000 {
		if v := s.Outbound(ap(p4[0], 5060), at(float64(i)/1000)); v.Action != ActionSend {
			t.Fatalf("during reloads: %v", v)
		}
	}
	<-done
}
