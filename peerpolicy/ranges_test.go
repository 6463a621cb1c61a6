package peerpolicy

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// rangeCases covers every built-in range with at least one address inside
// and one just outside it. Addresses outside a range that fall into no other
// range are AllowGlobal (IPv4 and 2000::/3) or DenyNotGlobal (other IPv6).
var rangeCases = []struct {
	addr string
	want Verdict
}{
	// 0.0.0.0/8
	{"0.0.0.0", DenyUnspecified},
	{"0.255.255.255", DenyUnspecified},
	{"1.0.0.0", AllowGlobal},
	// 10.0.0.0/8
	{"9.255.255.255", AllowGlobal},
	{"10.0.0.0", DenyPrivate},
	{"10.255.255.255", DenyPrivate},
	{"11.0.0.0", AllowGlobal},
	// 100.64.0.0/10
	{"100.63.255.255", AllowGlobal},
	{"100.64.0.0", DenyCGNAT},
	{"100.127.255.255", DenyCGNAT},
	{"100.128.0.0", AllowGlobal},
	// 127.0.0.0/8
	{"126.255.255.255", AllowGlobal},
	{"127.0.0.1", DenyLoopback},
	{"127.255.255.255", DenyLoopback},
	{"128.0.0.0", AllowGlobal},
	// 169.254.0.0/16
	{"169.253.255.255", AllowGlobal},
	{"169.254.0.0", DenyLinkLocal},
	{"169.254.169.254", DenyLinkLocal},
	{"169.254.255.255", DenyLinkLocal},
	{"169.255.0.0", AllowGlobal},
	// 172.16.0.0/12
	{"172.15.255.255", AllowGlobal},
	{"172.16.0.0", DenyPrivate},
	{"172.31.255.255", DenyPrivate},
	{"172.32.0.0", AllowGlobal},
	// 192.0.0.0/24
	{"191.255.255.255", AllowGlobal},
	{"192.0.0.0", DenyReserved},
	{"192.0.0.10", DenyReserved},
	{"192.0.0.255", DenyReserved},
	// 192.0.2.0/24
	{"192.0.1.255", AllowGlobal},
	{"192.0.2.0", DenyDocumentation},
	{"192.0.2.255", DenyDocumentation},
	{"192.0.3.0", AllowGlobal},
	// Globally reachable special-purpose blocks stay allowed.
	{"192.31.196.1", AllowGlobal},
	{"192.52.193.1", AllowGlobal},
	{"192.175.48.1", AllowGlobal},
	// 192.88.99.0/24
	{"192.88.98.255", AllowGlobal},
	{"192.88.99.0", DenySixToFourRelay},
	{"192.88.99.255", DenySixToFourRelay},
	{"192.88.100.0", AllowGlobal},
	// 192.168.0.0/16
	{"192.167.255.255", AllowGlobal},
	{"192.168.0.0", DenyPrivate},
	{"192.168.255.255", DenyPrivate},
	{"192.169.0.0", AllowGlobal},
	// 198.18.0.0/15
	{"198.17.255.255", AllowGlobal},
	{"198.18.0.0", DenyBenchmarking},
	{"198.19.255.255", DenyBenchmarking},
	{"198.20.0.0", AllowGlobal},
	// 198.51.100.0/24
	{"198.51.99.255", AllowGlobal},
	{"198.51.100.0", DenyDocumentation},
	{"198.51.100.255", DenyDocumentation},
	{"198.51.101.0", AllowGlobal},
	// 203.0.113.0/24
	{"203.0.112.255", AllowGlobal},
	{"203.0.113.0", DenyDocumentation},
	{"203.0.113.255", DenyDocumentation},
	{"203.0.114.0", AllowGlobal},
	// 224.0.0.0/4
	{"223.255.255.255", AllowGlobal},
	{"224.0.0.0", DenyMulticast},
	{"233.252.0.1", DenyMulticast},
	{"239.255.255.255", DenyMulticast},
	// 240.0.0.0/4 and 255.255.255.255
	{"240.0.0.0", DenyReserved},
	{"255.255.255.254", DenyReserved},
	{"255.255.255.255", DenyBroadcast},
	{"8.8.8.8", AllowGlobal},

	// ::/128, ::1/128
	{"::", DenyUnspecified},
	{"::1", DenyLoopback},
	// ::/96 IPv4-compatible, judged by the embedded address.
	{"::2", DenyUnspecified},
	{"::8.8.8.8", AllowGlobal},
	{"::10.0.0.1", DenyPrivate},
	{"::127.0.0.1", DenyLoopback},
	{"::169.254.169.254", DenyLinkLocal},
	{"::255.255.255.255", DenyBroadcast},
	{"::1:0:0", DenyNotGlobal},
	// ::ffff:0:0/96 IPv4-mapped, judged exactly as IPv4.
	{"::ffff:8.8.8.8", AllowGlobal},
	{"::ffff:0.0.0.0", DenyUnspecified},
	{"::ffff:10.0.0.1", DenyPrivate},
	{"::ffff:127.0.0.1", DenyLoopback},
	{"::ffff:169.254.169.254", DenyLinkLocal},
	{"::ffff:255.255.255.255", DenyBroadcast},
	{"::fffe:808:808", DenyNotGlobal},
	{"::1:ffff:808:808", DenyNotGlobal},
	// 64:ff9b::/96 NAT64, judged by the embedded address.
	{"64:ff9b::8.8.8.8", AllowGlobal},
	{"64:ff9b::10.0.0.1", DenyNAT64Embedded},
	{"64:ff9b::127.0.0.1", DenyNAT64Embedded},
	{"64:ff9b::169.254.169.254", DenyNAT64Embedded},
	{"64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", DenyNotGlobal},
	{"64:ff9b::1:0:0:0", DenyNotGlobal},
	// 64:ff9b:1::/48 local-use NAT64: every RFC 6052 reading must be allowed.
	{"64:ff9b:1:808:8:808:808:808", AllowGlobal},       // 8.8.8.8 in every layout
	{"64:ff9b:1::8.8.8.8", DenyNAT64Embedded},          // the /64 reading is 0.0.0.8
	{"64:ff9b:1:a08:8:808:808:808", DenyNAT64Embedded}, // only the /48 reading, 10.8.8.8
	{"64:ff9b:1:87f:8:808:808:808", DenyNAT64Embedded}, // only the /56 reading, 127.8.8.8
	{"64:ff9b:1:808:a:808:808:808", DenyNAT64Embedded}, // only the /64 reading, 10.8.8.8
	{"64:ff9b:1:808:8:808:a00:1", DenyNAT64Embedded},   // only the /96 reading, 10.0.0.1
	{"64:ff9b:0:ffff::", DenyNotGlobal},
	{"64:ff9b:2::", DenyNotGlobal},
	// 100::/64 discard-only.
	{"100::", DenyDiscard},
	{"100::ffff:ffff:ffff:ffff", DenyDiscard},
	{"100:0:0:1::", DenyNotGlobal},
	// 2001::/23 with Teredo, benchmarking and the global exceptions.
	{"2001::", DenyTeredo},
	{"2001:0:ffff:ffff:ffff:ffff:ffff:ffff", DenyTeredo},
	{"2001:1::1", DenyReserved},
	{"2001:1::2", DenyReserved},
	{"2001:2::1", DenyBenchmarking},
	{"2001:2:0:ffff:ffff:ffff:ffff:ffff", DenyBenchmarking},
	{"2001:2:1::", DenyReserved},
	{"2001:3::1", AllowGlobal},
	{"2001:4:112::1", AllowGlobal},
	{"2001:4:113::1", DenyReserved},
	{"2001:10::1", DenyReserved},
	{"2001:20::1", DenyReserved},
	{"2001:30::1", DenyReserved},
	{"2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", DenyReserved},
	{"2001:200::", AllowGlobal},
	// 2001:db8::/32
	{"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", AllowGlobal},
	{"2001:db8::1", DenyDocumentation},
	{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", DenyDocumentation},
	{"2001:db9::", AllowGlobal},
	// 2002::/16 6to4, denied whatever it embeds.
	{"2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", AllowGlobal},
	{"2002::", DenySixToFour},
	{"2002:808:808::1", DenySixToFour},
	{"2002:a00:1::1", DenySixToFour},
	{"2002:a9fe:a9fe::1", DenySixToFour},
	{"2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", DenySixToFour},
	{"2003::", AllowGlobal},
	// 3fff::/20
	{"3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", AllowGlobal},
	{"3fff::1", DenyDocumentation},
	{"3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", DenyDocumentation},
	{"3fff:1000::", AllowGlobal},
	// fc00::/7, fe80::/10, fec0::/10, ff00::/8 and their neighbours.
	{"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", DenyNotGlobal},
	{"fc00::1", DenyULA},
	{"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", DenyULA},
	{"fe00::", DenyNotGlobal},
	{"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", DenyNotGlobal},
	{"fe80::1", DenyLinkLocal},
	{"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", DenyLinkLocal},
	{"fec0::1", DenySiteLocal},
	{"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", DenySiteLocal},
	{"ff00::", DenyMulticast},
	{"ff02::1", DenyMulticast},
	{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", DenyMulticast},
	// 2000::/3 and the rest.
	{"1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", DenyNotGlobal},
	{"2000::", AllowGlobal},
	{"2606:4700::1111", AllowGlobal},
	{"3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", AllowGlobal},
	{"4000::", DenyNotGlobal},
	{"5f00::1", DenyNotGlobal},
	// Zones.
	{"fe80::1%eth0", DenyZoned},
	{"2606:4700::1111%eth0", DenyZoned},
	{"::ffff:8.8.8.8%eth0", DenyZoned},
}

func mustFilter(t testing.TB, cfg Config) *Filter {
	t.Helper()
	f, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f
}

func TestDefaultRanges(t *testing.T) {
	f := mustFilter(t, Config{})
	for _, tc := range rangeCases {
		ip := netip.MustParseAddr(tc.addr)
		if got := f.CheckIP(ip); got != tc.want {
			t.Errorf("CheckIP(%s) = %s, want %s", tc.addr, got, tc.want)
		}
		ap := netip.AddrPortFrom(ip, 3478)
		if got := f.CheckAddrPort(ap); got != tc.want {
			t.Errorf("CheckAddrPort(%s) = %s, want %s", ap, got, tc.want)
		}
	}
}

// TestEmbeddedForms derives the mapped, compatible, NAT64 and 6to4 forms of
// every IPv4 address in rangeCases and checks each against the IPv4 verdict.
func TestEmbeddedForms(t *testing.T) {
	f := mustFilter(t, Config{})
	for _, tc := range rangeCases {
		v4 := netip.MustParseAddr(tc.addr)
		if !v4.Is4() {
			continue
		}
		b := v4.As4()
		denied := !tc.want.Allowed()
		nat64Want := AllowGlobal
		if denied {
			nat64Want = DenyNAT64Embedded
		}
		forms := []struct {
			name string
			addr netip.Addr
			want Verdict
		}{
			{"mapped", netip.AddrFrom16(v4.As16()), tc.want},
			{"nat64", netip.AddrFrom16([16]byte{0, 0x64, 0xff, 0x9b, 12: b[0], b[1], b[2], b[3]}), nat64Want},
			{"6to4", netip.AddrFrom16([16]byte{0x20, 0x02, b[0], b[1], b[2], b[3], 15: 1}), DenySixToFour},
		}
		// ::0.0.0.0 and ::0.0.0.1 are the unspecified and loopback
		// addresses, not IPv4-compatible ones.
		if b != [4]byte{} && b != [4]byte{0, 0, 0, 1} {
			forms = append(forms, struct {
				name string
				addr netip.Addr
				want Verdict
			}{"compatible", netip.AddrFrom16([16]byte{12: b[0], b[1], b[2], b[3]}), tc.want})
		}
		for _, form := range forms {
			if got := f.CheckIP(form.addr); got != form.want {
				t.Errorf("%s form %s of %s: CheckIP = %s, want %s", form.name, form.addr, v4, got, form.want)
			}
		}
	}
}

func TestMetadataAddressInEveryForm(t *testing.T) {
	f := mustFilter(t, Config{})
	for _, tc := range []struct {
		addr string
		want Verdict
	}{
		{"169.254.169.254", DenyLinkLocal},
		{"::ffff:169.254.169.254", DenyLinkLocal},
		{"::169.254.169.254", DenyLinkLocal},
		{"64:ff9b::169.254.169.254", DenyNAT64Embedded},
		{"64:ff9b:1::a9fe:a9fe", DenyNAT64Embedded},
		{"64:ff9b:1:a9fe:a9:fe00::", DenyNAT64Embedded},   // /48 layout
		{"64:ff9b:1:a9:fe:a9fe::", DenyNAT64Embedded},     // /56 layout
		{"64:ff9b:1:0:a9:fea9:fe00:0", DenyNAT64Embedded}, // /64 layout
		{"2002:a9fe:a9fe::1", DenySixToFour},
	} {
		ip := netip.MustParseAddr(tc.addr)
		if got := f.CheckIP(ip); got != tc.want {
			t.Errorf("CheckIP(%s) = %s, want %s", tc.addr, got, tc.want)
		}
		if got := f.CheckAddrPort(netip.AddrPortFrom(ip, 80)); got != tc.want {
			t.Errorf("CheckAddrPort(%s:80) = %s, want %s", tc.addr, got, tc.want)
		}
	}
}

// TestRuleIndexMatchesLinearScan checks the first-byte index against a plain
// first-match scan of the same table over random and boundary addresses.
func TestRuleIndexMatchesLinearScan(t *testing.T) {
	linear := func(rules []rule, ip netip.Addr) rule {
		for _, r := range rules {
			if r.prefix.Contains(ip) {
				return r
			}
		}
		t.Fatalf("no rule contains %s", ip)
		return rule{}
	}
	rules4, rules6 := defaultRules4(), defaultRules6()
	idx4, idx6 := newRuleIndex(rules4), newRuleIndex(rules6)
	rng := rand.New(rand.NewPCG(1, 2))
	var addrs []netip.Addr
	for range 20000 {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		addrs = append(addrs, netip.AddrFrom16(b), netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3]}))
	}
	for _, r := range append(rules4, rules6...) {
		addrs = append(addrs, r.prefix.Addr(), lastAddr(r.prefix))
	}
	for _, ip := range addrs {
		idx, rules := idx6, rules6
		if ip.Is4() {
			idx, rules = idx4, rules4
		}
		if got, want := idx.match(ip), linear(rules, ip); got != want {
			t.Fatalf("%s: index gives %v, scan gives %v", ip, got, want)
		}
	}
}

// lastAddr returns the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for bit := p.Bits(); bit < len(b)*8; bit++ {
		b[bit/8] |= 0x80 >> (bit % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
