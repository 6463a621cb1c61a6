package peerpolicy

import (
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// checkCase is one CheckIP or CheckAddrPort call, chosen by the form of peer.
type checkCase struct {
	peer   string // "ip" for CheckIP, "ip:port" or "[ip]:port" for CheckAddrPort
	want   Verdict
	reason string
}

func runChecks(t *testing.T, f *Filter, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		var got Verdict
		if ap, err := netip.ParseAddrPort(tc.peer); err == nil {
			got = f.CheckAddrPort(ap)
		} else {
			got = f.CheckIP(netip.MustParseAddr(tc.peer))
		}
		if got != tc.want {
			t.Errorf("%s (%s): got %s, want %s", tc.peer, tc.reason, got, tc.want)
		}
	}
}

func relayConfig(own ...string) Config {
	var cfg Config
	cfg.OwnAddrs = addrs(own...)
	cfg.RelayPorts.Min, cfg.RelayPorts.Max = 49152, 65535
	return cfg
}

func TestOwnAddressPortRule(t *testing.T) {
	f := mustFilter(t, relayConfig("1.2.3.4", "2606:4700::1", "::ffff:5.6.7.8", "10.0.0.5"))
	runChecks(t, f, []checkCase{
		{"1.2.3.4", AllowGlobal, "permissions are IP-only"},
		{"1.2.3.4:3478", DenyOwnAddress, "listener"},
		{"1.2.3.4:9464", DenyOwnAddress, "metrics"},
		{"1.2.3.4:49151", DenyOwnAddress, "just below the relay range"},
		{"1.2.3.4:49152", AllowOwnRelayPort, "first relay port"},
		{"1.2.3.4:65535", AllowOwnRelayPort, "last relay port"},
		{"[::ffff:1.2.3.4]:3478", DenyOwnAddress, "mapped form of an own address"},
		{"[::ffff:1.2.3.4]:50000", AllowOwnRelayPort, "mapped form, relay port"},
		{"[::1.2.3.4]:3478", DenyOwnAddress, "compatible form judged by its IPv4"},
		{"[64:ff9b::1.2.3.4]:3478", DenyNAT64Embedded, "NAT64 to an own address"},
		{"[64:ff9b::1.2.3.4]:50000", AllowOwnRelayPort, "NAT64 to a relay port"},
		{"[2002:102:304::1]:50000", DenySixToFour, "6to4 stays denied"},
		{"1.2.3.5:3478", AllowGlobal, "a neighbour is not own"},
		{"5.6.7.8:3478", DenyOwnAddress, "own address given in mapped form"},
		{"[2606:4700::1]:3478", DenyOwnAddress, "IPv6 own address"},
		{"[2606:4700::1]:50000", AllowOwnRelayPort, "IPv6 own address, relay port"},
		{"2606:4700::1", AllowGlobal, "IPv6 own address, IP only"},
		{"10.0.0.5:50000", DenyPrivate, "a private own address is still private"},
	})
}

func TestOwnAddressWithoutRelayPorts(t *testing.T) {
	f := mustFilter(t, Config{OwnAddrs: addrs("1.2.3.4")})
	runChecks(t, f, []checkCase{
		{"1.2.3.4:50000", DenyOwnAddress, "no relay range configured"},
		{"1.2.3.4", AllowGlobal, "IP only"},
	})
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		cases []checkCase
	}{
		{
			name: "deny narrows the defaults in every form",
			cfg:  Config{Deny: prefixes("8.8.8.0/24", "2606:4700::/32")},
			cases: []checkCase{
				{"8.8.8.8:53", DenyConfig, "IPv4"},
				{"[::ffff:8.8.8.8]:53", DenyConfig, "mapped"},
				{"[::8.8.8.8]:53", DenyConfig, "compatible"},
				{"[64:ff9b::8.8.8.8]:53", DenyConfig, "NAT64"},
				{"[64:ff9b:1:808:8:808:808:808]:53", DenyConfig, "local NAT64"},
				{"[2002:808:808::1]:53", DenyConfig, "6to4 embedding a denied IPv4"},
				{"[2001:0:4136:e378:8000:63bf:f7f7:f7f7]:53", DenyConfig, "Teredo whose client is a denied IPv4"},
				{"[2001:0:808:808::1]:53", DenyConfig, "Teredo whose server is a denied IPv4"},
				{"[2606:4700::1111]:53", DenyConfig, "IPv6"},
				{"8.8.4.4:53", AllowGlobal, "outside the deny list"},
			},
		},
		{
			name: "allow widens the defaults",
			cfg:  Config{Allow: prefixes("10.0.0.0/8", "fd00::/8")},
			cases: []checkCase{
				{"10.1.2.3:80", AllowConfig, "IPv4"},
				{"10.1.2.3", AllowConfig, "IP only"},
				{"[::ffff:10.1.2.3]:80", AllowConfig, "mapped"},
				{"[::10.1.2.3]:80", AllowConfig, "compatible"},
				{"[64:ff9b::10.1.2.3]:80", AllowConfig, "NAT64"},
				{"[fd12::1]:80", AllowConfig, "ULA"},
				{"[2002:a01:203::1]:80", DenySixToFour, "6to4 is not allowed through its embedded IPv4"},
				{"[2001:0:a01:203::1]:80", DenyTeredo, "Teredo is not allowed through its embedded IPv4"},
				{"[64:ff9b:1:808:8:808:a01:203]:80", DenyNAT64Embedded, "ambiguous local NAT64 is not allowed through an embedding"},
				{"192.168.1.1:80", DenyPrivate, "outside the allow list"},
			},
		},
		{
			name: "deny wins over allow",
			cfg:  Config{Allow: prefixes("10.0.0.0/8"), Deny: prefixes("10.9.0.0/16")},
			cases: []checkCase{
				{"10.9.1.1:80", DenyConfig, "in both"},
				{"[::ffff:10.9.1.1]:80", DenyConfig, "mapped, in both"},
				{"10.8.1.1:80", AllowConfig, "allow only"},
			},
		},
		{
			name: "allow overrides tunnel and own-address denials when listed itself",
			cfg: func() Config {
				c := relayConfig("1.2.3.4")
				c.Allow = prefixes("2002::/16", "2001::/32", "1.2.3.4/32", "64:ff9b:1::/48")
				return c
			}(),
			cases: []checkCase{
				{"[2002:a01:203::1]:80", AllowConfig, "6to4 prefix listed"},
				{"[2001::1]:80", AllowConfig, "Teredo prefix listed"},
				{"1.2.3.4:9464", AllowConfig, "own address listed"},
				{"[64:ff9b:1::a00:1]:80", AllowConfig, "local NAT64 prefix listed"},
			},
		},
		{
			name: "deny wins over the own relay port exception",
			cfg: func() Config {
				c := relayConfig("1.2.3.4")
				c.Deny = prefixes("1.2.3.4/32")
				return c
			}(),
			cases: []checkCase{
				{"1.2.3.4:50000", DenyConfig, "own address denied by operator"},
				{"1.2.3.4", DenyConfig, "IP only"},
			},
		},
		{
			name: "mapped prefixes become IPv4 prefixes",
			cfg:  Config{Allow: prefixes("::ffff:10.0.0.0/104"), Deny: prefixes("::ffff:8.8.8.8/128")},
			cases: []checkCase{
				{"10.1.1.1:80", AllowConfig, "mapped allow prefix"},
				{"8.8.8.8:80", DenyConfig, "mapped deny prefix"},
				{"[::ffff:8.8.8.8]:80", DenyConfig, "mapped address, mapped deny prefix"},
			},
		},
		{
			name: "prefixes with host bits are masked",
			cfg:  Config{Allow: prefixes("10.1.2.3/16")},
			cases: []checkCase{
				{"10.1.200.200:80", AllowConfig, "same /16"},
				{"10.2.0.1:80", DenyPrivate, "other /16"},
			},
		},
		{
			name: "structural denials are not overridable",
			cfg:  Config{Allow: prefixes("fe80::/10", "0.0.0.0/0", "::/0")},
			cases: []checkCase{
				{"[fe80::1%eth0]:80", DenyZoned, "zone"},
				{"[fe80::1]:80", AllowConfig, "same address without zone"},
				{"8.8.8.8:0", DenyPortZero, "port 0"},
				{"[2606:4700::1]:0", DenyPortZero, "port 0, IPv6"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runChecks(t, mustFilter(t, tt.cfg), tt.cases)
		})
	}
}

func TestZeroValues(t *testing.T) {
	f := mustFilter(t, Config{Allow: prefixes("0.0.0.0/0", "::/0")})
	if got := f.CheckIP(netip.Addr{}); got != DenyInvalid {
		t.Errorf("CheckIP(zero) = %s, want invalid", got)
	}
	if got := f.CheckAddrPort(netip.AddrPort{}); got != DenyInvalid {
		t.Errorf("CheckAddrPort(zero) = %s, want invalid", got)
	}
	var v Verdict
	if v.Allowed() || v != DenyInvalid {
		t.Errorf("zero Verdict = %s, allowed %v; want a denial", v, v.Allowed())
	}
}

func TestNewRejects(t *testing.T) {
	ports := func(lo, hi uint16) Config {
		var c Config
		c.RelayPorts.Min, c.RelayPorts.Max = lo, hi
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"min above max", ports(60000, 50000), "min above max"},
		{"port zero in range", ports(0, 100), "port 0"},
		{"invalid allow prefix", Config{Allow: []netip.Prefix{{}}}, "Allow[0] is invalid"},
		{"invalid deny prefix", Config{Deny: []netip.Prefix{netip.MustParsePrefix("::/0"), {}}}, "Deny[1] is invalid"},
		{"invalid own address", Config{OwnAddrs: []netip.Addr{{}}}, "OwnAddrs[0] is invalid"},
		{"zoned own address", Config{OwnAddrs: addrs("fe80::1%eth0")}, "has a zone"},
		{"unspecified own address", Config{OwnAddrs: addrs("0.0.0.0")}, "unspecified"},
		{"unspecified IPv6 own address", Config{OwnAddrs: addrs("::")}, "unspecified"},
		{"unspecified mapped own address", Config{OwnAddrs: addrs("::ffff:0.0.0.0")}, "unspecified"},
		{"empty range is fine", ports(0, 0), ""},
		{"single port range is fine", ports(50000, 50000), ""},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestNewCopiesConfig(t *testing.T) {
	cfg := relayConfig("1.2.3.4")
	cfg.Deny = prefixes("8.8.8.0/24")
	f := mustFilter(t, cfg)
	cfg.Deny[0] = netip.MustParsePrefix("9.9.9.0/24")
	cfg.OwnAddrs[0] = netip.MustParseAddr("4.3.2.1")
	runChecks(t, f, []checkCase{
		{"8.8.8.8:53", DenyConfig, "filter kept its own copy of Deny"},
		{"1.2.3.4:53", DenyOwnAddress, "filter kept its own copy of OwnAddrs"},
	})
}

func TestVerdictLabels(t *testing.T) {
	label := regexp.MustCompile(`^[a-z0-9_]+$`)
	seen := map[string]Verdict{}
	for v := Verdict(0); v < VerdictCount; v++ {
		s := v.String()
		if !label.MatchString(s) || s == "unknown" {
			t.Errorf("Verdict(%d).String() = %q, not a metric label", v, s)
		}
		if prev, dup := seen[s]; dup {
			t.Errorf("Verdict(%d) and Verdict(%d) share the label %q", prev, v, s)
		}
		seen[s] = v
		wantAllowed := v == AllowGlobal || v == AllowConfig || v == AllowOwnRelayPort
		if v.Allowed() != wantAllowed {
			t.Errorf("%s.Allowed() = %v, want %v", s, v.Allowed(), wantAllowed)
		}
	}
	if got := VerdictCount.String(); got != "unknown" {
		t.Errorf("VerdictCount.String() = %q, want unknown", got)
	}
	if Verdict(255).Allowed() {
		t.Error("Verdict(255) is allowed")
	}
	for _, want := range []string{"loopback", "private", "cgnat", "link_local", "multicast", "broadcast",
		"reserved", "unspecified", "documentation", "benchmarking", "ula", "site_local", "teredo",
		"sixtofour_embedded", "nat64_embedded", "own_address", "denied_by_config", "not_global"} {
		if _, ok := seen[want]; !ok {
			t.Errorf("no verdict is labelled %q", want)
		}
	}
}

// TestOwnAllowed: the own addresses that Allow opens and Deny does not
// close, for the start-up warning (issue 15: an allow entry covering the
// relay's subnet used to open its listeners silently).
func TestOwnAllowed(t *testing.T) {
	f, err := New(Config{
		Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")},
		Deny:  []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")},
		OwnAddrs: []netip.Addr{
			netip.MustParseAddr("10.0.0.5"),    // opened
			netip.MustParseAddr("10.9.0.5"),    // opened, then denied
			netip.MustParseAddr("192.0.2.1"),   // not allowed
			netip.MustParseAddr("fd00::5"),     // opened
			netip.MustParseAddr("2001:db8::5"), // not allowed
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := f.OwnAllowed()
	want := []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fd00::5")}
	if !slices.Equal(got, want) {
		t.Fatalf("OwnAllowed = %v, want %v", got, want)
	}
	none, err := New(Config{OwnAddrs: []netip.Addr{netip.MustParseAddr("10.0.0.5")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := none.OwnAllowed(); len(got) != 0 {
		t.Fatalf("without Allow, OwnAllowed = %v", got)
	}
}
