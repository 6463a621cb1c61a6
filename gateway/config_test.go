package gateway

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
)

func TestDefaultConfigValid(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := cfg.ProxyRanges.String(); got != "100.96.0.0/11,fd00:2021:1111:8000::/107" {
		t.Errorf("ProxyRanges = %s", got)
	}
	if got := cfg.DNS.String(); got != "100.100.111.1:53,[fd00:2021:1111:8000:100:100:111:0]:53" {
		t.Errorf("DNS = %s", got)
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	t.Setenv("TURNSTILE_GATEWAY_PROXY_RANGES", "100.64.0.0/16, fd00:1::/112")
	t.Setenv("TURNSTILE_GATEWAY_DNS", "100.64.0.53:5353")
	t.Setenv("TURNSTILE_GATEWAY_MAX_FLOWS", "64")
	t.Setenv("TURNSTILE_GATEWAY_TOMBSTONE_LIFETIME", "90s")
	cfg := DefaultConfig()
	if err := env.Parse(&cfg); err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.ProxyRanges = ProxyRanges{V4: netip.MustParsePrefix("100.64.0.0/16"), V6: netip.MustParsePrefix("fd00:1::/112")}
	want.DNS = Sentinels{V4: netip.MustParseAddrPort("100.64.0.53:5353")}
	want.MaxFlows, want.TombstoneLifetime = 64, 90*time.Second
	if cfg != want {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	t.Setenv("TURNSTILE_GATEWAY_DNS", "100.64.0.53")
	if err := env.Parse(&cfg); err == nil || !strings.Contains(err.Error(), "TURNSTILE_GATEWAY_DNS") {
		t.Errorf("bad DNS accepted or unnamed: %v", err)
	}
}

func TestConfigValidateNamesTheVariable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tweak  func(*Config)
		within string
	}{
		{"no v4 range", func(c *Config) { c.ProxyRanges.V4 = netip.Prefix{} }, "TURNSTILE_GATEWAY_PROXY_RANGES: needs one IPv4"},
		{"v6 range mapped", func(c *Config) { c.ProxyRanges.V6 = netip.MustParsePrefix("::ffff:0:0/96") }, "TURNSTILE_GATEWAY_PROXY_RANGES: needs one IPv6"},
		{"range not canonical", func(c *Config) { c.ProxyRanges.V4 = netip.MustParsePrefix("100.96.0.1/11") }, "canonical"},
		{"range too small", func(c *Config) { c.ProxyRanges.V4 = netip.MustParsePrefix("100.96.0.0/24") }, "TURNSTILE_GATEWAY_MAX_DOMAINS=64 needs at least 258"},
		{"no sentinel", func(c *Config) { c.DNS = Sentinels{} }, "TURNSTILE_GATEWAY_DNS: needs at least one"},
		{"sentinel port 0", func(c *Config) { c.DNS.V4 = netip.MustParseAddrPort("100.100.111.1:0") }, "TURNSTILE_GATEWAY_DNS"},
		{"sentinel v6 in v4 slot", func(c *Config) { c.DNS.V4 = netip.MustParseAddrPort("[fd00::1]:53") }, "is not IPv4"},
		{"sentinel mapped", func(c *Config) { c.DNS.V6 = netip.MustParseAddrPort("[::ffff:1.2.3.4]:53") }, "is not IPv6"},
		{"max domains", func(c *Config) { c.MaxDomains = 0 }, "TURNSTILE_GATEWAY_MAX_DOMAINS: 0 is outside 1–4096"},
		{"max flows", func(c *Config) { c.MaxFlows = -1 }, "TURNSTILE_GATEWAY_MAX_FLOWS"},
		{"tombstones", func(c *Config) { c.MaxTombstones = 1 << 21 }, "TURNSTILE_GATEWAY_MAX_TOMBSTONES"},
		{"tombstone lifetime", func(c *Config) { c.TombstoneLifetime = 2 * time.Hour }, "TURNSTILE_GATEWAY_TOMBSTONE_LIFETIME"},
		{"icmp rate", func(c *Config) { c.ICMPRate = 0 }, "TURNSTILE_GATEWAY_ICMP_RATE"},
		{"icmp burst", func(c *Config) { c.ICMPBurst = 0 }, "TURNSTILE_GATEWAY_ICMP_BURST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.tweak(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.within) {
				t.Errorf("got %v, want an error containing %q", err, tc.within)
			}
			if _, err := New(cfg); err == nil {
				t.Error("New accepted an invalid configuration")
			}
		})
	}
}

func TestConfigTextForms(t *testing.T) {
	for _, bad := range []string{"", "100.96.0.0/11", "100.96.0.0/11,100.64.0.0/10,fd00::/64", "fd00::/64,fd01::/64", "x"} {
		var r ProxyRanges
		if err := r.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("ProxyRanges accepted %q", bad)
		}
	}
	for _, bad := range []string{"", "1.2.3.4:53,5.6.7.8:53", "[::]:53", "224.0.0.1:53", "1.2.3.4"} {
		var s Sentinels
		if err := s.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("Sentinels accepted %q", bad)
		}
	}
	var s Sentinels
	if err := s.UnmarshalText([]byte("[fd00::53]:53")); err != nil || s.V4.IsValid() || s.String() != "[fd00::53]:53" {
		t.Errorf("IPv6-only sentinel: %v %+v", err, s)
	}
}

func TestGeometry(t *testing.T) {
	cfg := DefaultConfig()
	g := newGeometry(cfg.ProxyRanges, cfg.DNS)
	if g.slots != 1<<19 {
		t.Fatalf("slots = %d", g.slots)
	}
	// The IPv4 sentinel lies in the IPv4 range: its slot is never used.
	sentinelSlot, _, ok := g.locate(cfg.DNS.V4.Addr())
	if !ok || g.usable(sentinelSlot) || g.usable(0) || g.usable(g.slots) {
		t.Errorf("sentinel slot %d usable=%v, slot 0 usable=%v", sentinelSlot, g.usable(sentinelSlot), g.usable(0))
	}
	for _, slot := range []uint32{1, 77, g.slots - 1} {
		for i := range ProxiesPerFamily {
			for _, v6 := range []bool{false, true} {
				a := g.addr(slot, i, v6)
				s2, i2, ok := g.locate(a)
				if !ok || s2 != slot || i2 != i || !g.inRanges(a) || a.Is6() != v6 {
					t.Errorf("slot %d #%d v6=%v: %v locates to %d #%d %v", slot, i, v6, a, s2, i2, ok)
				}
			}
		}
	}
	if got := g.addr(1, 0, false); got != netip.MustParseAddr("100.96.0.4") {
		t.Errorf("first IPv4 proxy %v", got)
	}
	if got := g.addr(1, 3, true); got != netip.MustParseAddr("fd00:2021:1111:8000::7") {
		t.Errorf("IPv6 proxy %v", got)
	}
	for _, a := range []string{"100.95.255.255", "100.128.0.0", "fd00:2021:1111:8000::20:0", "10.0.0.1"} {
		if _, _, ok := g.locate(netip.MustParseAddr(a)); ok {
			t.Errorf("%s located", a)
		}
	}
	if g.next(g.slots-1) != 1 || g.next(5) != 6 {
		t.Error("next does not wrap to slot 1")
	}

	// A v6 range wider than 64 bits: slots live in the low 64 bits.
	wide := newGeometry(ProxyRanges{V4: cfg.ProxyRanges.V4, V6: netip.MustParsePrefix("fd00::/48")}, Sentinels{})
	if _, _, ok := wide.locate(netip.MustParseAddr("fd00:0:0:1::4")); ok || !wide.inRanges(netip.MustParseAddr("fd00:0:0:1::4")) {
		t.Error("address outside the low 64 bits located")
	}
	if slotsIn(1) != 0 || slotsIn(40) != maxSlots {
		t.Error("slotsIn bounds")
	}
}

func TestTokenBucket(t *testing.T) {
	b := newTokenBucket(10, 3) // 100 ms per token, 3 in a burst
	for i := range 3 {
		if !b.allow(at(5)) {
			t.Fatalf("burst token %d refused", i)
		}
	}
	if b.allow(at(5)) {
		t.Fatal("fourth token in a burst allowed")
	}
	if !b.allow(at(5.1)) || b.allow(at(5.1)) {
		t.Fatal("refill of one token per 100 ms")
	}
	if b.allow(at(4)) {
		t.Fatal("a now older than the last event gained a token")
	}
	for i := range 3 {
		if !b.allow(at(100)) {
			t.Fatalf("after idling, token %d refused", i)
		}
	}
}

func TestSynthesizedICMPIsRateLimited(t *testing.T) {
	gw := newTestGateway(t, exampleResources, func(c *Config) { c.ICMPRate, c.ICMPBurst = 2, 2 })
	s := gw.NewSession("alice")
	unknown := app("100.96.255.9:1")
	got := []Action{}
	for _, sec := range []float64{0, 0, 0, 0.2, 0.5, 0.5, 0.5} {
		got = append(got, s.Outbound(unknown, at(sec)).Action)
	}
	want := []Action{ActionRefuse, ActionRefuse, ActionDrop, ActionDrop, ActionRefuse, ActionDrop, ActionDrop}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("verdicts %v, want %v", got, want)
		}
	}
	if v := s.Outbound(unknown, at(0.5)); v.Reason != ReasonICMPRateLimited || v.Addr != unknown {
		t.Errorf("rate-limited verdict %v", v)
	}
	// Another allocation has its own budget.
	if v := gw.NewSession("alice").Outbound(unknown, at(0.5)); v.Action != ActionRefuse {
		t.Errorf("other session: %v", v)
	}
}
