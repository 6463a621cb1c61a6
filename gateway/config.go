package gateway

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Fixed constants. They are behaviour, not settings (docs/gateway.md
// "Constants").
const (
	// ProxiesPerFamily is how many proxy IPs of each family a domain gets on
	// an allocation.
	ProxiesPerFamily = 4
	// AnswerTTL is the TTL of every proxy IP record, in seconds.
	AnswerTTL = 1
	// ResolveTimeout bounds one resolution of a resource domain; the relay
	// gives the Resolver a context with this deadline and treats a timeout
	// as "no records".
	ResolveTimeout = 10 * time.Second
	// FlowIdleTimeout: a flow that has seen a reply expires this long after
	// its last datagram in either direction.
	FlowIdleTimeout = 120 * time.Second
	// UnansweredFlowTimeout: a flow that never saw a reply expires this long
	// after its last outbound datagram.
	UnansweredFlowTimeout = 60 * time.Second
)

// Config is the gateway's static configuration, read once at start; only the
// resources file is reloaded (Gateway.Reload). Start from DefaultConfig, the
// one place defaults live, then overlay the environment; the `env` tags name
// the variables, for github.com/caarlos0/env/v11 (which leaves a field alone
// when its variable is unset). Validate reports errors naming the variable.
type Config struct {
	// ProxyRanges are the prefixes proxy IPs are drawn from.
	ProxyRanges ProxyRanges `env:"TURNSTILE_GATEWAY_PROXY_RANGES"`
	// DNS holds the sentinel addresses clients send DNS queries to.
	DNS Sentinels `env:"TURNSTILE_GATEWAY_DNS"`
	// MaxDomains caps the domains one allocation holds proxy IPs for (each
	// costs 2×ProxiesPerFamily proxy IPs and one small record). A query for
	// a further domain is answered REFUSED. Range 1–4096.
	MaxDomains int `env:"TURNSTILE_GATEWAY_MAX_DOMAINS"`
	// MaxFlows caps the live NAT flows of one allocation; a datagram that
	// would open a further flow is dropped. Range 1–1048576.
	MaxFlows int `env:"TURNSTILE_GATEWAY_MAX_FLOWS"`
	// MaxTombstones caps the expired flows one allocation remembers so that
	// late replies are dropped; beyond it the oldest is forgotten.
	// Range 0–1048576.
	MaxTombstones int `env:"TURNSTILE_GATEWAY_MAX_TOMBSTONES"`
	// TombstoneLifetime is how long an expired flow is remembered after it
	// expired. Range 0–1h.
	TombstoneLifetime time.Duration `env:"TURNSTILE_GATEWAY_TOMBSTONE_LIFETIME"`
	// ICMPRate is the sustained rate, in errors per second, of ICMP errors
	// the gateway synthesizes for one allocation. Range 1–100000.
	ICMPRate int `env:"TURNSTILE_GATEWAY_ICMP_RATE"`
	// ICMPBurst is how many synthesized ICMP errors one allocation may get
	// back to back. Range 1–100000.
	ICMPBurst int `env:"TURNSTILE_GATEWAY_ICMP_BURST"`
}

// DefaultConfig returns the defaults of every setting.
func DefaultConfig() Config {
	return Config{
		ProxyRanges: ProxyRanges{
			V4: netip.MustParsePrefix("100.96.0.0/11"),
			V6: netip.MustParsePrefix("fd00:2021:1111:8000::/107"),
		},
		DNS: Sentinels{
			V4: netip.MustParseAddrPort("100.100.111.1:53"),
			V6: netip.MustParseAddrPort("[fd00:2021:1111:8000:100:100:111:0]:53"),
		},
		MaxDomains:        64,
		MaxFlows:          1024,
		MaxTombstones:     1024,
		TombstoneLifetime: 5 * time.Minute,
		ICMPRate:          10,
		ICMPBurst:         20,
	}
}

// Validate reports the first setting that is out of range, naming its
// environment variable. Values are rejected, never clamped.
func (c Config) Validate() error {
	if err := c.ProxyRanges.validate(); err != nil {
		return fmt.Errorf("TURNSTILE_GATEWAY_PROXY_RANGES: %w", err)
	}
	if err := c.DNS.validate(); err != nil {
		return fmt.Errorf("TURNSTILE_GATEWAY_DNS: %w", err)
	}
	for _, r := range []struct {
		name     string
		val, min int64
		max      int64
	}{
		{"TURNSTILE_GATEWAY_MAX_DOMAINS", int64(c.MaxDomains), 1, 4096},
		{"TURNSTILE_GATEWAY_MAX_FLOWS", int64(c.MaxFlows), 1, 1 << 20},
		{"TURNSTILE_GATEWAY_MAX_TOMBSTONES", int64(c.MaxTombstones), 0, 1 << 20},
		{"TURNSTILE_GATEWAY_TOMBSTONE_LIFETIME", int64(c.TombstoneLifetime), 0, int64(time.Hour)},
		{"TURNSTILE_GATEWAY_ICMP_RATE", int64(c.ICMPRate), 1, 100000},
		{"TURNSTILE_GATEWAY_ICMP_BURST", int64(c.ICMPBurst), 1, 100000},
	} {
		if r.val < r.min || r.val > r.max {
			return fmt.Errorf("%s: %d is outside %d–%d", r.name, r.val, r.min, r.max)
		}
	}
	g := newGeometry(c.ProxyRanges, c.DNS)
	// Slot probing (proxy.go) needs free slots to stay short; a quarter
	// occupancy at most keeps every probe sequence to a few steps.
	if need := uint64(c.MaxDomains)*4 + 2; uint64(g.slots) < need {
		return fmt.Errorf("TURNSTILE_GATEWAY_PROXY_RANGES: %s and %s hold %d blocks of %d proxy IPs; TURNSTILE_GATEWAY_MAX_DOMAINS=%d needs at least %d",
			c.ProxyRanges.V4, c.ProxyRanges.V6, g.slots, ProxiesPerFamily, c.MaxDomains, need)
	}
	return nil
}

// ProxyRanges are the IPv4 and IPv6 prefixes proxy IPs are drawn from. Its
// text form, for TURNSTILE_GATEWAY_PROXY_RANGES, is a comma-separated list of
// exactly one IPv4 and one IPv6 prefix in canonical form, for example
// "100.96.0.0/11,fd00:2021:1111:8000::/107".
type ProxyRanges struct {
	V4, V6 netip.Prefix
}

// UnmarshalText implements encoding.TextUnmarshaler; errors name the
// variable.
func (r *ProxyRanges) UnmarshalText(text []byte) error {
	var out ProxyRanges
	err := parseFamilies(string(text), netip.ParsePrefix, netip.Prefix.Addr, &out.V4, &out.V6)
	if err == nil {
		err = out.validate()
	}
	if err != nil {
		return fmt.Errorf("TURNSTILE_GATEWAY_PROXY_RANGES: %w", err)
	}
	*r = out
	return nil
}

// String returns the text form.
func (r ProxyRanges) String() string { return r.V4.String() + "," + r.V6.String() }

func (r ProxyRanges) validate() error {
	if !r.V4.IsValid() || !r.V4.Addr().Is4() {
		return errors.New("needs one IPv4 prefix")
	}
	if !r.V6.IsValid() || !r.V6.Addr().Is6() || r.V6.Addr().Is4In6() {
		return errors.New("needs one IPv6 prefix (not IPv4-mapped)")
	}
	for _, p := range []netip.Prefix{r.V4, r.V6} {
		if p.Masked() != p {
			return fmt.Errorf("%s is not in canonical form (%s)", p, p.Masked())
		}
		if p.Addr().Zone() != "" {
			return fmt.Errorf("%s has a zone", p)
		}
	}
	return nil
}

// Sentinels are the DNS sentinel addresses: the peer addresses a client sends
// DNS queries to through its allocation, one per family. Its text form, for
// TURNSTILE_GATEWAY_DNS, is a comma-separated list of at most one IPv4 and one
// IPv6 address with port, for example
// "100.100.111.1:53,[fd00:2021:1111:8000:100:100:111:0]:53". A family left
// out has no sentinel.
type Sentinels struct {
	V4, V6 netip.AddrPort
}

// UnmarshalText implements encoding.TextUnmarshaler; errors name the
// variable.
func (s *Sentinels) UnmarshalText(text []byte) error {
	var out Sentinels
	err := parseFamilies(string(text), netip.ParseAddrPort, netip.AddrPort.Addr, &out.V4, &out.V6)
	if err == nil {
		err = out.validate()
	}
	if err != nil {
		return fmt.Errorf("TURNSTILE_GATEWAY_DNS: %w", err)
	}
	*s = out
	return nil
}

// String returns the text form.
func (s Sentinels) String() string {
	var parts []string
	for _, ap := range []netip.AddrPort{s.V4, s.V6} {
		if ap.IsValid() {
			parts = append(parts, ap.String())
		}
	}
	return strings.Join(parts, ",")
}

func (s Sentinels) validate() error {
	if !s.V4.IsValid() && !s.V6.IsValid() {
		return errors.New("needs at least one address")
	}
	if s.V4.IsValid() && !s.V4.Addr().Is4() {
		return fmt.Errorf("%s is not IPv4", s.V4)
	}
	if s.V6.IsValid() && (!s.V6.Addr().Is6() || s.V6.Addr().Is4In6()) {
		return fmt.Errorf("%s is not IPv6 (IPv4-mapped addresses are not accepted)", s.V6)
	}
	for _, ap := range []netip.AddrPort{s.V4, s.V6} {
		if !ap.IsValid() {
			continue
		}
		a := ap.Addr()
		if ap.Port() == 0 || a.IsUnspecified() || a.IsMulticast() || a.Zone() != "" {
			return fmt.Errorf("%s: needs a unicast address without zone and a non-zero port", ap)
		}
	}
	return nil
}

// isIP reports whether a is the IP of one of the sentinels.
func (s Sentinels) isIP(a netip.Addr) bool {
	return (s.V4.IsValid() && s.V4.Addr() == a) || (s.V6.IsValid() && s.V6.Addr() == a)
}

// portOf returns the sentinel port for the sentinel IP a.
func (s Sentinels) portOf(a netip.Addr) uint16 {
	if a.Is4() {
		return s.V4.Port()
	}
	return s.V6.Port()
}

// parseFamilies parses a comma-separated list of at most one IPv4 and one
// IPv6 value (prefixes or addresses with port) into v4 and v6.
func parseFamilies[T comparable](text string, parse func(string) (T, error), addr func(T) netip.Addr, v4, v6 *T) error {
	var zero T
	for _, f := range strings.Split(text, ",") {
		v, err := parse(strings.TrimSpace(f))
		if err != nil {
			return err
		}
		slot := v6
		if addr(v).Is4() {
			slot = v4
		}
		if *slot != zero {
			return fmt.Errorf("%s: a second value of the same family", f)
		}
		*slot = v
	}
	return nil
}
