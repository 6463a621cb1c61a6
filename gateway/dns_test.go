package gateway

import (
	"net/netip"
	"slices"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// packQuery builds a query message with full control over the header, the
// question and an optional OPT record (version ednsVersion; <0: none).
func packQuery(t *testing.T, h dnsmessage.Header, name string, typ dnsmessage.Type, class dnsmessage.Class, ednsVersion int) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, h)
	if err := b.StartQuestions(); err != nil {
		t.Fatal(err)
	}
	if err := b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: class}); err != nil {
		t.Fatal(err)
	}
	if ednsVersion >= 0 {
		if err := b.StartAdditionals(); err != nil {
			t.Fatal(err)
		}
		var rh dnsmessage.ResourceHeader
		if err := rh.SetEDNS0(4096, dnsmessage.RCodeSuccess, true); err != nil {
			t.Fatal(err)
		}
		rh.TTL |= uint32(ednsVersion) << 16
		if err := b.OPTResource(rh, dnsmessage.OPTResource{}); err != nil {
			t.Fatal(err)
		}
	}
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestDNSAnswerFormat(t *testing.T) {
	s := newTestGateway(t, exampleResources, nil).NewSession("alice")
	// Mixed case (DNS 0x20) is echoed, RD is copied, the OPT record is
	// answered with one.
	msg := packQuery(t, dnsmessage.Header{ID: 0xBEEF, RecursionDesired: true, CheckingDisabled: true},
		"SiP.InTeRnAl.", dnsmessage.TypeAAAA, dnsmessage.ClassINET, 0)
	v, q, _ := s.Query(msg, at(0), nil)
	if v.Action != ActionResolve || q.Domain() != "sip.internal" {
		t.Fatalf("%v %q", v, q.Domain())
	}
	buf := make([]byte, 0, 512)
	v, ans := s.Resolved(q, nil, addrs("2001:db8::1"), buf)
	if v.Action != ActionAnswer || &ans[0] != &buf[:1][0] {
		t.Fatalf("%v; answer not built in the caller's buffer", v)
	}
	m, got := parseAnswer(t, ans)
	if m.ID != 0xBEEF || !m.Response || !m.RecursionDesired || !m.RecursionAvailable || !m.Authoritative || !m.CheckingDisabled {
		t.Errorf("header %+v", m.Header)
	}
	if m.Questions[0].Name.String() != "SiP.InTeRnAl." {
		t.Errorf("question %v", m.Questions[0].Name)
	}
	for _, r := range m.Answers {
		if r.Header.TTL != AnswerTTL || r.Header.Name.String() != "SiP.InTeRnAl." || r.Header.Class != dnsmessage.ClassINET {
			t.Errorf("record header %+v", r.Header)
		}
	}
	for _, a := range got {
		if !a.Is6() || !s.gw.geo.v6.Contains(a) {
			t.Errorf("answer %v is not an IPv6 proxy", a)
		}
	}
	if len(m.Additionals) != 1 || m.Additionals[0].Header.Type != dnsmessage.TypeOPT || m.Additionals[0].Header.Class != ednsPayloadSize {
		t.Errorf("additionals %+v", m.Additionals)
	}
}

func TestDNSImmediateAnswers(t *testing.T) {
	s := newTestGateway(t, exampleResources, nil).NewSession("alice")
	for _, tc := range []struct {
		name   string
		msg    []byte
		reason Reason
		rcode  dnsmessage.RCode
		ext    int // extended RCODE in the OPT record
	}{
		{"status opcode", packQuery(t, dnsmessage.Header{ID: 1, OpCode: 2}, "sip.internal.", dnsmessage.TypeA, dnsmessage.ClassINET, -1),
			ReasonDNSNotImplemented, dnsmessage.RCodeNotImplemented, 0},
		{"EDNS version 1", packQuery(t, dnsmessage.Header{ID: 2}, "sip.internal.", dnsmessage.TypeA, dnsmessage.ClassINET, 1),
			ReasonDNSBadVersion, 0, rcodeBadVersion},
		{"chaos class", packQuery(t, dnsmessage.Header{ID: 3}, "sip.internal.", dnsmessage.TypeA, dnsmessage.ClassCHAOS, -1),
			ReasonDNSRefused, dnsmessage.RCodeRefused, 0},
		{"TXT for a resource", packQuery(t, dnsmessage.Header{ID: 4}, "sip.internal.", dnsmessage.TypeTXT, dnsmessage.ClassINET, 0),
			ReasonDNSNoData, dnsmessage.RCodeSuccess, 0},
		{"not a host name", packQuery(t, dnsmessage.Header{ID: 5}, "a\\ b.media.internal.", dnsmessage.TypeA, dnsmessage.ClassINET, -1),
			ReasonDNSRefused, dnsmessage.RCodeRefused, 0},
		{"root", packQuery(t, dnsmessage.Header{ID: 6}, ".", dnsmessage.TypeA, dnsmessage.ClassINET, -1),
			ReasonDNSRefused, dnsmessage.RCodeRefused, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, _, ans := s.Query(tc.msg, at(0), nil)
			if v.Action != ActionAnswer || v.Reason != tc.reason {
				t.Fatalf("verdict %v, want answer(%v)", v, tc.reason)
			}
			m, got := parseAnswer(t, ans)
			if m.RCode != tc.rcode || len(got) != 0 || len(m.Answers) != 0 {
				t.Errorf("rcode %v answers %v", m.RCode, m.Answers)
			}
			if tc.ext != 0 {
				if len(m.Additionals) != 1 || int(m.Additionals[0].Header.ExtendedRCode(m.RCode)) != tc.ext {
					t.Errorf("extended rcode: %+v", m.Additionals)
				}
			}
		})
	}
	if len(s.domains) != 0 {
		t.Errorf("immediate answers created domains: %v", s.domains)
	}
}

func TestDNSMalformedOPT(t *testing.T) {
	s := newTestGateway(t, exampleResources, nil).NewSession("alice")
	base := packQuery(t, dnsmessage.Header{ID: 1}, "sip.internal.", dnsmessage.TypeA, dnsmessage.ClassINET, 0)
	// Two OPT records.
	twoOPT := slices.Clone(base)
	twoOPT[11] = 2
	twoOPT = append(twoOPT, base[len(base)-11:]...)
	// An OPT record whose owner is not the root.
	notRoot := packQuery(t, dnsmessage.Header{ID: 1}, "sip.internal.", dnsmessage.TypeA, dnsmessage.ClassINET, -1)
	notRoot[11] = 1
	notRoot = append(notRoot, 1, 'x', 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0)
	// An OPT record cut short.
	cut := base[:len(base)-3]
	for name, msg := range map[string][]byte{"two OPT": twoOPT, "OPT not at root": notRoot, "cut OPT": cut} {
		if v, _, _ := s.Query(msg, at(0), nil); v.Action != ActionDrop || v.Reason != ReasonDNSMalformed {
			t.Errorf("%s: %v", name, v)
		}
	}
}

func TestDNSMappingRoundRobinAndUsable(t *testing.T) {
	s := newTestGateway(t, exampleResources, nil).NewSession("alice")
	p4, p6 := proxiesFor(t, s, "rr.media.internal",
		addrs("127.0.0.1", "192.0.2.1", "::ffff:192.0.2.2", "100.96.0.9", "2001:db8::5", "169.254.169.254", "100.100.111.1", "192.0.2.3"),
		addrs("192.0.2.9", "2001:db8::1", "::ffff:192.0.2.2", "fe80::1", "fd00:2021:1111:8000::9", "2001:db8::2%eth0"), at(0))
	d := s.domains[0]
	want4 := addrs("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.1")
	want6 := addrs("2001:db8::1", "2001:db8::2", "2001:db8::1", "2001:db8::2")
	if !slices.Equal(d.real[0][:], want4) || !slices.Equal(d.real[1][:], want6) {
		t.Fatalf("mapping %v %v, want %v %v", d.real[0], d.real[1], want4, want6)
	}
	// Each proxy sends to its own mapping; proxies sharing a real IP collide
	// on the same port.
	for i := range ProxiesPerFamily {
		for _, c := range []struct{ proxy, real netip.Addr }{{p4[i], want4[i]}, {p6[i], want6[i]}} {
			v := s.Outbound(ap(c.proxy, 80), at(1))
			if v.Addr != ap(c.real, 80) && v.Reason != ReasonFlowCollision {
				t.Errorf("proxy %v: %v, want send to %v", c.proxy, v, c.real)
			}
		}
	}
}

func TestDNSStaleResolutionDoesNotOverwrite(t *testing.T) {
	s := newTestGateway(t, exampleResources, nil).NewSession("alice")
	msg := buildQuery(t, 1, "slow.media.internal", dnsmessage.TypeA)
	_, older, _ := s.Query(msg, at(0), nil)
	_, newer, _ := s.Query(msg, at(1), nil)
	if v, _ := s.Resolved(newer, addrs("192.0.2.2"), nil, nil); v.Action != ActionAnswer {
		t.Fatal(v)
	}
	v, ans := s.Resolved(older, addrs("192.0.2.1"), nil, nil)
	if _, got := parseAnswer(t, ans); v.Action != ActionAnswer || len(got) != ProxiesPerFamily {
		t.Fatalf("stale resolution not answered: %v", v)
	}
	if got := s.domains[0].real[0][0]; got != netip.MustParseAddr("192.0.2.2") {
		t.Errorf("stale result overwrote the mapping: %v", got)
	}
}

func TestDNSResolvedRejectsForeignQueries(t *testing.T) {
	gw := newTestGateway(t, exampleResources, nil)
	a, b := gw.NewSession("alice"), gw.NewSession("alice")
	_, q, _ := a.Query(buildQuery(t, 1, "x.media.internal", dnsmessage.TypeA), at(0), nil)
	if v, ans := b.Resolved(q, nil, nil, nil); v.Action != ActionDrop || v.Reason != ReasonDNSMalformed || ans != nil {
		t.Errorf("foreign query: %v", v)
	}
	if v, _ := a.Resolved(Query{}, nil, nil, nil); v.Action != ActionDrop {
		t.Errorf("zero query: %v", v)
	}
	// Access revoked while the resolution ran: REFUSED, mapping untouched.
	if err := gw.Reload([]byte(`{"resources": []}`)); err != nil {
		t.Fatal(err)
	}
	v, ans := a.Resolved(q, addrs("192.0.2.1"), nil, nil)
	if m, _ := parseAnswer(t, ans); v.Reason != ReasonDNSRefused || m.RCode != dnsmessage.RCodeRefused || a.domains[0].resolved {
		t.Errorf("revoked during resolution: %v %v", v, m.RCode)
	}
}

func TestProxyIPsStableAndDistinct(t *testing.T) {
	gw := newTestGateway(t, exampleResources, nil)
	s1, s2 := gw.NewSession("alice"), gw.NewSession("bob")
	seen := map[netip.Addr]string{}
	for _, name := range []string{"a.media.internal", "b.media.internal", "c.media.internal", "sip.internal"} {
		p4, p6 := proxiesFor(t, s1, name, nil, nil, at(0))
		q4, q6 := proxiesFor(t, s2, name, nil, nil, at(0))
		if !slices.Equal(p4, q4) || !slices.Equal(p6, q6) {
			t.Errorf("%s: different proxies on two allocations: %v %v", name, p4, q4)
		}
		for _, a := range slices.Concat(p4, p6) {
			if other, dup := seen[a]; dup {
				t.Errorf("%v handed to %s and %s", a, other, name)
			}
			seen[a] = name
			if a == gw.cfg.DNS.V4.Addr() || !gw.geo.inRanges(a) {
				t.Errorf("%v is the sentinel or outside the ranges", a)
			}
		}
	}
}

func TestSlotProbingOnHashCollision(t *testing.T) {
	// A tiny range: 64 slots, so names collide on their preferred slot.
	gw := newTestGateway(t, exampleResources, func(c *Config) {
		c.ProxyRanges.V4 = netip.MustParsePrefix("100.96.0.0/24")
		c.ProxyRanges.V6 = netip.MustParsePrefix("fd00:2021:1111:8000::/120")
		c.MaxDomains = 15
	})
	s := gw.NewSession("alice")
	slots := map[uint32]bool{}
	for i := range 15 {
		name := string(rune('a'+i)) + ".media.internal"
		if v, _, _ := s.Query(buildQuery(t, 1, name, dnsmessage.TypeA), at(0), nil); v.Action != ActionResolve {
			t.Fatalf("%s: %v", name, v)
		}
	}
	for _, d := range s.domains {
		if slots[d.slot] || !gw.geo.usable(d.slot) {
			t.Errorf("slot %d reused or unusable", d.slot)
		}
		slots[d.slot] = true
	}
}
