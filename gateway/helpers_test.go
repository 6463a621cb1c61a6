package gateway

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// exampleResources is the example file of docs/gateway.md "The resources
// file".
const exampleResources = `{"resources": [
  {"name": "voip", "domain": "sip.internal",  "users": ["alice", "bob"],
   "filters": [{"protocol": "udp", "ports": "5060-5080"}, {"protocol": "icmp"}]},
  {"name": "media", "domain": "*.media.internal", "users": ["*"]},
  {"name": "lab", "cidr": "10.9.0.0/24", "users": ["alice"],
   "filters": [{"protocol": "udp", "ports": "9000"}]}
]}`

// at converts seconds since the test's origin to a mono.Time.
func at(seconds float64) mono.Time { return mono.Time(seconds * float64(time.Second)) }

// newTestGateway builds a gateway with resources and an ICMP rate limit high
// enough not to interfere; tweak adjusts the configuration first.
func newTestGateway(t testing.TB, resources string, tweak func(*Config)) *Gateway {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ICMPRate, cfg.ICMPBurst = 100000, 100000
	if tweak != nil {
		tweak(&cfg)
	}
	gw, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := gw.Reload([]byte(resources)); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	return gw
}

// buildQuery returns a DNS query for name and typ with RD set.
func buildQuery(t testing.TB, id uint16, name string, typ dnsmessage.Type) []byte {
	t.Helper()
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	n, err := dnsmessage.NewName(name)
	if err != nil {
		t.Fatalf("name %q: %v", name, err)
	}
	msg := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: n, Type: typ, Class: dnsmessage.ClassINET}},
	}
	b, err := msg.Pack()
	if err != nil {
		t.Fatalf("pack: %v", err)
	}
	return b
}

// parseAnswer unpacks an answer and returns its message and A/AAAA addresses.
func parseAnswer(t testing.TB, b []byte) (dnsmessage.Message, []netip.Addr) {
	t.Helper()
	var m dnsmessage.Message
	if err := m.Unpack(b); err != nil {
		t.Fatalf("answer does not parse: %v", err)
	}
	var out []netip.Addr
	for _, r := range m.Answers {
		switch body := r.Body.(type) {
		case *dnsmessage.AResource:
			out = append(out, netip.AddrFrom4(body.A))
		case *dnsmessage.AAAAResource:
			out = append(out, netip.AddrFrom16(body.AAAA))
		}
	}
	return m, out
}

// lookup runs one DNS exchange for name and typ with the given resolver
// results and returns the proxy IPs answered.
func lookup(t testing.TB, s *Session, name string, typ dnsmessage.Type, v4, v6 []netip.Addr, now mono.Time) []netip.Addr {
	t.Helper()
	v, q, _ := s.Query(buildQuery(t, 7, name, typ), now, nil)
	if v.Action != ActionResolve {
		t.Fatalf("Query %s %v: %v, want resolve", name, typ, v)
	}
	v, ans := s.Resolved(q, v4, v6, nil)
	if v.Action != ActionAnswer || v.Reason != ReasonDNSAnswered {
		t.Fatalf("Resolved %s: %v", name, v)
	}
	m, got := parseAnswer(t, ans)
	if m.RCode != dnsmessage.RCodeSuccess || len(got) != ProxiesPerFamily {
		t.Fatalf("answer for %s: rcode %v, %d addresses", name, m.RCode, len(got))
	}
	return got
}

// proxiesFor resolves name in both families (the same resolver results for
// both queries) and returns the IPv4 and IPv6 proxy IPs.
func proxiesFor(t testing.TB, s *Session, name string, v4, v6 []netip.Addr, now mono.Time) (p4, p6 []netip.Addr) {
	t.Helper()
	return lookup(t, s, name, dnsmessage.TypeA, v4, v6, now), lookup(t, s, name, dnsmessage.TypeAAAA, v4, v6, now)
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

func app(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// want checks a verdict's action, reason and address (addr invalid: not
// checked).
func want(t testing.TB, what string, got Verdict, action Action, reason Reason, addr netip.AddrPort) {
	t.Helper()
	if got.Action != action || got.Reason != reason || (addr.IsValid() && got.Addr != addr) {
		t.Errorf("%s: got %v, want %v(%v) %v", what, got, action, reason, addr)
	}
}

// wantRefuse checks an ICMP refusal.
func wantRefuse(t testing.TB, what string, got Verdict, reason Reason, addr netip.AddrPort, icmp ICMP) {
	t.Helper()
	want(t, what, got, ActionRefuse, reason, addr)
	if got.ICMP != icmp {
		t.Errorf("%s: ICMP %d/%d, want %d/%d", what, got.ICMP.Type, got.ICMP.Code, icmp.Type, icmp.Code)
	}
}
