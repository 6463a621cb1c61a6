// Package peerpolicy is the relay's default answer to "may this allocation
// reach this peer?" (docs/architecture.md, Hooks; RFC 8656 §10.2, §11.2,
// §12.2 allow a server to restrict peers, §21 says which ones to restrict).
//
// By default a Filter denies every address that is not global unicast, the
// tunnel forms RFC 8656 §21.4 forbids, and the relay's own addresses outside
// its relayed port range. Operators widen it with Allow prefixes and narrow it
// with Deny prefixes. Precedence, first match wins:
//
//  1. structural: an invalid or zoned address, or port 0 — always denied;
//  2. Deny prefixes (TURNSTILE_PEER_DENY);
//  3. Allow prefixes (TURNSTILE_PEER_ALLOW) — these override every built-in
//     denial, the own-address rule included (the relay's listeners and
//     metrics port stay refused all the same: turncore checks them before
//     any policy, see turncore.OwnSockets);
//  4. the built-in special-purpose ranges (ranges.go) and the own-address rule.
//
// Addresses are judged in the canonical form of Normalize, the reading the
// gateway's never-reachable rule shares. An IPv4-mapped address
// (::ffff:a.b.c.d) is judged exactly as a.b.c.d. IPv4-compatible, NAT64,
// 6to4 and Teredo addresses are matched against Deny both as themselves and
// as their embedded IPv4 addresses; compatible and NAT64 addresses are
// judged by their embedded addresses, 6to4 and Teredo are denied outright
// (RFC 8656 §21.4). See ranges.go for the Allow exceptions.
package peerpolicy

import (
	"fmt"
	"net/netip"
)

// Config is what a Filter is built from. New copies it; the caller may reuse
// the slices afterwards.
type Config struct {
	// Allow lists peer prefixes the operator permits even though a built-in
	// rule denies them (TURNSTILE_PEER_ALLOW). IPv4-mapped prefixes of at
	// least 96 bits are converted to IPv4 prefixes.
	Allow []netip.Prefix
	// Deny lists peer prefixes the operator forbids; it wins over Allow
	// (TURNSTILE_PEER_DENY).
	Deny []netip.Prefix
	// OwnAddrs are the relay's listening addresses and relayed/external
	// addresses. A peer at one of them is reachable only on a port in
	// RelayPorts.
	OwnAddrs []netip.Addr
	// RelayPorts is the inclusive relayed port range. Both zero means no
	// port of an own address is reachable.
	RelayPorts struct{ Min, Max uint16 }
}

// Filter is an immutable peer policy. Build it once with New, off the hot
// path; its methods are then safe for concurrent use without locks, take no
// locks and do not allocate. To change policy, build a new Filter and publish
// it (for example with atomic.Pointer).
type Filter struct {
	allow, deny        []netip.Prefix
	own                []netip.Addr
	relayMin, relayMax uint16
	rules4, rules6     *ruleIndex // the built-in tables of ranges.go
}

// New validates cfg and builds a Filter. It rejects invalid prefixes, own
// addresses that are invalid, zoned or unspecified, and a port range whose
// Min is above its Max or that starts at port 0.
func New(cfg Config) (*Filter, error) {
	f := &Filter{
		relayMin: cfg.RelayPorts.Min,
		relayMax: cfg.RelayPorts.Max,
		rules4:   newRuleIndex(defaultRules4()),
		rules6:   newRuleIndex(defaultRules6()),
	}
	if f.relayMin > f.relayMax {
		return nil, fmt.Errorf("peerpolicy: relay port range %d-%d: min above max", f.relayMin, f.relayMax)
	}
	if f.relayMin == 0 && f.relayMax != 0 {
		return nil, fmt.Errorf("peerpolicy: relay port range %d-%d includes port 0", f.relayMin, f.relayMax)
	}
	var err error
	if f.allow, err = canonicalPrefixes("Allow", cfg.Allow); err != nil {
		return nil, err
	}
	if f.deny, err = canonicalPrefixes("Deny", cfg.Deny); err != nil {
		return nil, err
	}
	f.own = make([]netip.Addr, 0, len(cfg.OwnAddrs))
	for i, a := range cfg.OwnAddrs {
		switch {
		case !a.IsValid():
			return nil, fmt.Errorf("peerpolicy: OwnAddrs[%d] is invalid", i)
		case a.Zone() != "":
			return nil, fmt.Errorf("peerpolicy: OwnAddrs[%d] %s has a zone", i, a)
		case a.Unmap().IsUnspecified():
			return nil, fmt.Errorf("peerpolicy: OwnAddrs[%d] %s is unspecified; give the specific addresses", i, a)
		}
		f.own = append(f.own, a.Unmap())
	}
	return f, nil
}

// canonicalPrefixes copies ps, masking host bits and turning IPv4-mapped
// prefixes into IPv4 ones so that they match the unmapped addresses the
// filter compares.
func canonicalPrefixes(field string, ps []netip.Prefix) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ps))
	for i, p := range ps {
		if !p.IsValid() {
			return nil, fmt.Errorf("peerpolicy: %s[%d] is invalid", field, i)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// CheckIP judges a peer IP address without a port, as CreatePermission
// needs (permissions are IP-only, RFC 8656 §9, §10.2). One of the relay's own
// addresses is allowed here; its port is judged by CheckAddrPort on Send,
// ChannelBind and inbound data.
func (f *Filter) CheckIP(ip netip.Addr) Verdict { return f.check(ip, 0, false) }

// CheckAddrPort judges a peer transport address, as Send indications,
// ChannelBind and inbound peer data need (RFC 8656 §11.2, §12.2).
func (f *Filter) CheckAddrPort(ap netip.AddrPort) Verdict {
	return f.check(ap.Addr(), ap.Port(), true)
}

// check applies the precedence of the package comment. withPort is false for
// CheckIP, which skips the port-0 and own-address port rules.
func (f *Filter) check(ip netip.Addr, port uint16, withPort bool) Verdict {
	if !ip.IsValid() {
		return DenyInvalid
	}
	if ip.Zone() != "" {
		return DenyZoned
	}
	if withPort && port == 0 {
		return DenyPortZero
	}
	n := Normalize(ip)
	ip = n.Addr
	embedded := n.Embedded()
	if containsAny(f.deny, ip, embedded) {
		return DenyConfig
	}
	allowEmbedded := embedded[:0]
	if embeddedAllowMatches(n.Kind) {
		allowEmbedded = embedded
	}
	if containsAny(f.allow, ip, allowEmbedded) {
		return AllowConfig
	}
	switch n.Kind {
	case EmbedCompat:
		return f.judge4(embedded[0], port, withPort)
	case EmbedNAT64, EmbedNAT64Local:
		v := AllowGlobal
		for _, e := range embedded {
			if v = f.judge4(e, port, withPort); !v.Allowed() {
				return DenyNAT64Embedded
			}
		}
		return v
	}
	r := f.rule(ip)
	if r.verdict != AllowGlobal {
		return r.verdict
	}
	return f.ownRule(ip, port, withPort)
}

// rule returns the built-in rule deciding ip, which must be unmapped.
func (f *Filter) rule(ip netip.Addr) rule {
	if ip.Is4() {
		return f.rules4.match(ip)
	}
	return f.rules6.match(ip)
}

// judge4 applies the built-in IPv4 rules and the own-address rule to an
// IPv4 address embedded in an IPv6 one.
func (f *Filter) judge4(ip netip.Addr, port uint16, withPort bool) Verdict {
	if r := f.rules4.match(ip); r.verdict != AllowGlobal {
		return r.verdict
	}
	return f.ownRule(ip, port, withPort)
}

// ownRule judges a globally reachable address against the relay's own
// addresses: reachable only on a relayed port, so that clients can talk to
// each other's relayed addresses but not to the relay's other services.
func (f *Filter) ownRule(ip netip.Addr, port uint16, withPort bool) Verdict {
	if !withPort || !f.isOwn(ip) {
		return AllowGlobal
	}
	if f.relayMax != 0 && port >= f.relayMin && port <= f.relayMax {
		return AllowOwnRelayPort
	}
	return DenyOwnAddress
}

// OwnAllowed returns the relay's own addresses that an Allow prefix opens
// and no Deny prefix closes: every port of them outside the relayed range
// is then reachable as a peer, which the operator should hear about once at
// start. (The relay's listeners and metrics port stay refused whatever the
// filter says, docs/protocol.md.)
func (f *Filter) OwnAllowed() []netip.Addr {
	var out []netip.Addr
	for _, a := range f.own {
		if containsAny(f.allow, a, nil) && !containsAny(f.deny, a, nil) {
			out = append(out, a)
		}
	}
	return out
}

// isOwn reports whether ip is one of the relay's addresses. A linear scan:
// a relay has a handful of addresses.
func (f *Filter) isOwn(ip netip.Addr) bool {
	for _, a := range f.own {
		if a == ip {
			return true
		}
	}
	return false
}

// containsAny reports whether a prefix of ps contains ip or one of extra.
func containsAny(ps []netip.Prefix, ip netip.Addr, extra []netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
		for _, e := range extra {
			if p.Contains(e) {
				return true
			}
		}
	}
	return false
}
