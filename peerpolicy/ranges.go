package peerpolicy

import "net/netip"

// This file holds the built-in judgement of an address: which special-purpose
// ranges (IANA IPv4 and IPv6 Special-Purpose Address Registries, RFC 6890 and
// its updates) a relay on the public Internet must not reach as peers
// (RFC 8656 §21.1.4, §21.2.2, §21.4; docs/protocol.md lists them).
//
// The tables are ordered; the first rule whose prefix contains the address
// decides. Each table ends with a catch-all rule, so every address matches.

// rule is one row of a table: addresses in prefix get verdict. A verdict of
// AllowGlobal marks ranges that are globally reachable unicast; they still go
// through the own-address check. IPv4-compatible and NAT64 addresses never
// reach the table: the filter judges their embedded IPv4 (Normalize).
type rule struct {
	prefix  netip.Prefix
	verdict Verdict
}

// defaultRules4 is the IPv4 table. Globally reachable special-purpose blocks
// are deliberately absent and therefore allowed: 192.31.196.0/24 (AS112-v4,
// RFC 7535), 192.52.193.0/24 (AMT, RFC 7450) and 192.175.48.0/24 (direct
// delegation AS112, RFC 7534) are ordinary unicast services.
func defaultRules4() []rule {
	return []rule{
		// "This network" (RFC 791 §3.2, RFC 1122 §3.2.1.3). Linux delivers
		// 0.0.0.0 to the local host, so it reaches loopback services.
		{prefix: netip.MustParsePrefix("0.0.0.0/8"), verdict: DenyUnspecified},
		{prefix: netip.MustParsePrefix("10.0.0.0/8"), verdict: DenyPrivate},   // RFC 1918 §3
		{prefix: netip.MustParsePrefix("100.64.0.0/10"), verdict: DenyCGNAT},  // RFC 6598
		{prefix: netip.MustParsePrefix("127.0.0.0/8"), verdict: DenyLoopback}, // RFC 1122 §3.2.1.3
		// Link local (RFC 3927), home of cloud metadata at 169.254.169.254.
		{prefix: netip.MustParsePrefix("169.254.0.0/16"), verdict: DenyLinkLocal},
		{prefix: netip.MustParsePrefix("172.16.0.0/12"), verdict: DenyPrivate}, // RFC 1918 §3
		// IETF protocol assignments (RFC 6890 §2.2.2). The whole /24 is
		// denied, including the globally reachable 192.0.0.9 (PCP anycast,
		// RFC 7723) and 192.0.0.10 (TURN anycast, RFC 8155): relaying to
		// another TURN server's anycast address invites the relay loops of
		// RFC 8656 §21.1.7.
		{prefix: netip.MustParsePrefix("192.0.0.0/24"), verdict: DenyReserved},
		{prefix: netip.MustParsePrefix("192.0.2.0/24"), verdict: DenyDocumentation}, // TEST-NET-1, RFC 5737
		// 6to4 relay anycast (RFC 3068, deprecated by RFC 7526): a tunnel
		// entry point, which RFC 8656 §21.4 says not to forward to.
		{prefix: netip.MustParsePrefix("192.88.99.0/24"), verdict: DenySixToFourRelay},
		{prefix: netip.MustParsePrefix("192.168.0.0/16"), verdict: DenyPrivate},        // RFC 1918 §3
		{prefix: netip.MustParsePrefix("198.18.0.0/15"), verdict: DenyBenchmarking},    // RFC 2544
		{prefix: netip.MustParsePrefix("198.51.100.0/24"), verdict: DenyDocumentation}, // TEST-NET-2, RFC 5737
		{prefix: netip.MustParsePrefix("203.0.113.0/24"), verdict: DenyDocumentation},  // TEST-NET-3, RFC 5737
		// Multicast (RFC 5771), including MCAST-TEST-NET 233.252.0.0/24
		// (RFC 6676): relaying to a group amplifies.
		{prefix: netip.MustParsePrefix("224.0.0.0/4"), verdict: DenyMulticast},
		// Limited broadcast (RFC 919, RFC 8190) before the /4 holding it.
		{prefix: netip.MustParsePrefix("255.255.255.255/32"), verdict: DenyBroadcast},
		{prefix: netip.MustParsePrefix("240.0.0.0/4"), verdict: DenyReserved}, // RFC 1112 §4
		{prefix: netip.MustParsePrefix("0.0.0.0/0"), verdict: AllowGlobal},
	}
}

// defaultRules6 is the IPv6 table. IPv4-mapped addresses (::ffff:0:0/96,
// RFC 4291 §2.5.5.2) never reach it: the filter unmaps them first, so they are
// judged exactly as their IPv4 address.
func defaultRules6() []rule {
	return []rule{
		{prefix: netip.MustParsePrefix("::/128"), verdict: DenyUnspecified}, // RFC 4291 §2.5.2
		{prefix: netip.MustParsePrefix("::1/128"), verdict: DenyLoopback},   // RFC 4291 §2.5.3
		{prefix: netip.MustParsePrefix("100::/64"), verdict: DenyDiscard},   // RFC 6666
		// Teredo (RFC 4380): RFC 8656 §21.4 MUST NOT. Its embedded
		// server and client IPv4 still meet the operator's Deny list.
		{prefix: netip.MustParsePrefix("2001::/32"), verdict: DenyTeredo},
		{prefix: netip.MustParsePrefix("2001:2::/48"), verdict: DenyBenchmarking}, // RFC 5180
		// Globally reachable unicast services inside 2001::/23, mirroring
		// their IPv4 counterparts above: AMT (RFC 7450) and AS112-v6
		// (RFC 7535).
		{prefix: netip.MustParsePrefix("2001:3::/32"), verdict: AllowGlobal},
		{prefix: netip.MustParsePrefix("2001:4:112::/48"), verdict: AllowGlobal},
		// The rest of the IETF protocol assignments (RFC 2928): the PCP,
		// TURN and DNS-SD anycast addresses 2001:1::1-3 (denied for the same
		// reason as 192.0.0.0/24), and ORCHID/ORCHIDv2 (RFC 4843, RFC 7343)
		// and DET (RFC 9374) identifiers, which are not locators.
		{prefix: netip.MustParsePrefix("2001::/23"), verdict: DenyReserved},
		{prefix: netip.MustParsePrefix("2001:db8::/32"), verdict: DenyDocumentation}, // RFC 3849
		// 6to4 (RFC 3056): RFC 8656 §21.4 MUST NOT. The embedded IPv4 is
		// still extracted so that the operator's Deny list applies to it.
		{prefix: netip.MustParsePrefix("2002::/16"), verdict: DenySixToFour},
		{prefix: netip.MustParsePrefix("3fff::/20"), verdict: DenyDocumentation}, // RFC 9637
		{prefix: netip.MustParsePrefix("fc00::/7"), verdict: DenyULA},            // RFC 4193
		{prefix: netip.MustParsePrefix("fe80::/10"), verdict: DenyLinkLocal},     // RFC 4291 §2.5.6
		{prefix: netip.MustParsePrefix("fec0::/10"), verdict: DenySiteLocal},     // RFC 3879
		{prefix: netip.MustParsePrefix("ff00::/8"), verdict: DenyMulticast},      // RFC 4291 §2.7
		// Global unicast is 2000::/3 (RFC 4291 §2.4, IANA IPv6 Address
		// Space); everything else is reserved or unassigned, including
		// the SRv6 SID block 5f00::/16 (RFC 9602).
		{prefix: netip.MustParsePrefix("2000::/3"), verdict: AllowGlobal},
		{prefix: netip.MustParsePrefix("::/0"), verdict: DenyNotGlobal},
	}
}

// ruleIndex splits an ordered rule table by the first byte of the address, so
// that a lookup only tries the rules that can contain it (usually one or
// two) instead of the whole table. Each entry keeps the table's order.
type ruleIndex [256][]rule

// newRuleIndex builds the index of rules, which must all be of one family.
func newRuleIndex(rules []rule) *ruleIndex {
	idx := new(ruleIndex)
	for _, r := range rules {
		first := r.prefix.Addr().AsSlice()[0]
		span := 1
		if bits := r.prefix.Bits(); bits < 8 {
			span = 1 << (8 - bits) // the prefix covers span first-byte values
		}
		for b := int(first); b < int(first)+span; b++ {
			idx[b] = append(idx[b], r)
		}
	}
	return idx
}

// match returns the first rule containing ip. ip must be of the index's
// family; the tables end with a catch-all rule, so the final return is
// reached only for an address of the other family, which callers never pass.
func (idx *ruleIndex) match(ip netip.Addr) rule {
	var first byte
	if ip.Is4() {
		first = ip.As4()[0]
	} else {
		first = ip.As16()[0]
	}
	rules := idx[first]
	for i := range rules {
		if rules[i].prefix.Contains(ip) {
			return rules[i]
		}
	}
	return rule{verdict: DenyInvalid}
}

// embeddedAllowMatches reports whether the operator's Allow list may be
// matched against the embedded IPv4 of kind. Only unambiguous embeddings that
// RFC 8656 does not forbid qualify: a local-use NAT64 address has several
// readings, and 6to4 MUST NOT be accepted (§21.4) even when its IPv4 is
// allowed; an operator who wants either lists the IPv6 prefix itself.
func embeddedAllowMatches(kind Embedding) bool {
	return kind == EmbedCompat || kind == EmbedNAT64
}
