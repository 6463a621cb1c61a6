package peerpolicy

// Verdict is the outcome of a peer check together with its reason. Its String
// is a short, fixed label meant for metric labels and logs; the set of labels
// is closed (see VerdictCount), so it never carries user data.
//
// The zero Verdict is DenyInvalid: a Verdict that was never assigned denies.
type Verdict uint8

// Verdicts. The allowing ones are contiguous; everything else denies.
const (
	// DenyInvalid: the address is the zero netip.Addr.
	DenyInvalid Verdict = iota

	// AllowGlobal: a global unicast address that no rule denies. CheckIP also
	// answers AllowGlobal for one of the relay's own addresses, because
	// permissions are IP-only (RFC 8656 §9) and the port rule applies later.
	AllowGlobal
	// AllowConfig: the operator's Allow list matched (TURNSTILE_PEER_ALLOW).
	AllowConfig
	// AllowOwnRelayPort: one of the relay's own addresses, at a port of the
	// relayed port range: a client reaching another client's relayed address
	// on the same relay, which is ordinary TURN usage.
	AllowOwnRelayPort

	// DenyConfig: the operator's Deny list matched (TURNSTILE_PEER_DENY).
	DenyConfig
	// DenyOwnAddress: one of the relay's own addresses at a port outside the
	// relayed port range (its listeners, metrics, other local services).
	DenyOwnAddress
	// DenyZoned: the address carries an IPv6 zone, which names an interface of
	// this host; no address from the wire carries one.
	DenyZoned
	// DenyPortZero: port 0 is not a destination (RFC 768 reserves it; Linux
	// refuses to send to it).
	DenyPortZero
	// DenyUnspecified: 0.0.0.0/8 or ::/128.
	DenyUnspecified
	// DenyLoopback: 127.0.0.0/8 or ::1.
	DenyLoopback
	// DenyPrivate: RFC 1918 networks.
	DenyPrivate
	// DenyCGNAT: RFC 6598 shared address space 100.64.0.0/10.
	DenyCGNAT
	// DenyLinkLocal: 169.254.0.0/16 (including cloud metadata services at
	// 169.254.169.254) or fe80::/10.
	DenyLinkLocal
	// DenyMulticast: 224.0.0.0/4 or ff00::/8.
	DenyMulticast
	// DenyBroadcast: the limited broadcast address 255.255.255.255.
	DenyBroadcast
	// DenyReserved: reserved or IETF protocol assignment space that is not
	// globally reachable (240.0.0.0/4, 192.0.0.0/24, parts of 2001::/23).
	DenyReserved
	// DenyDocumentation: documentation prefixes (RFC 5737, RFC 3849, RFC 9637).
	DenyDocumentation
	// DenyBenchmarking: benchmarking prefixes (RFC 2544, RFC 5180).
	DenyBenchmarking
	// DenySixToFourRelay: the deprecated 6to4 relay anycast prefix
	// 192.88.99.0/24 (RFC 3068, RFC 7526), a tunnel entry point.
	DenySixToFourRelay
	// DenyDiscard: the IPv6 discard-only prefix 100::/64 (RFC 6666).
	DenyDiscard
	// DenyULA: IPv6 unique local addresses fc00::/7 (RFC 4193).
	DenyULA
	// DenySiteLocal: deprecated IPv6 site-local fec0::/10 (RFC 3879).
	DenySiteLocal
	// DenyTeredo: Teredo 2001::/32 (RFC 4380), which a TURN server MUST NOT
	// accept (RFC 8656 §21.4).
	DenyTeredo
	// DenySixToFour: 6to4 2002::/16 (RFC 3056), which embeds an IPv4
	// address and which a TURN server MUST NOT accept (RFC 8656 §21.4).
	DenySixToFour
	// DenyNAT64Embedded: a NAT64 address (RFC 6052, RFC 8215) whose embedded
	// IPv4 address is denied.
	DenyNAT64Embedded
	// DenyNotGlobal: IPv6 outside the global unicast space 2000::/3
	// (RFC 4291 §2.4) and not covered by a more specific reason.
	DenyNotGlobal

	// VerdictCount is the number of verdicts; every Verdict below it has a
	// distinct label. Metrics may iterate from 0 to VerdictCount-1 to
	// pre-create their series.
	VerdictCount
)

// Allowed reports whether the peer may be reached.
func (v Verdict) Allowed() bool { return v >= AllowGlobal && v <= AllowOwnRelayPort }

// String returns the verdict's label, e.g. "loopback"; "unknown" for a value
// outside the defined set.
func (v Verdict) String() string {
	switch v {
	case DenyInvalid:
		return "invalid"
	case AllowGlobal:
		return "global"
	case AllowConfig:
		return "allowed_by_config"
	case AllowOwnRelayPort:
		return "own_relay_port"
	case DenyConfig:
		return "denied_by_config"
	case DenyOwnAddress:
		return "own_address"
	case DenyZoned:
		return "zoned"
	case DenyPortZero:
		return "port_zero"
	case DenyUnspecified:
		return "unspecified"
	case DenyLoopback:
		return "loopback"
	case DenyPrivate:
		return "private"
	case DenyCGNAT:
		return "cgnat"
	case DenyLinkLocal:
		return "link_local"
	case DenyMulticast:
		return "multicast"
	case DenyBroadcast:
		return "broadcast"
	case DenyReserved:
		return "reserved"
	case DenyDocumentation:
		return "documentation"
	case DenyBenchmarking:
		return "benchmarking"
	case DenySixToFourRelay:
		return "sixtofour_relay"
	case DenyDiscard:
		return "discard"
	case DenyULA:
		return "ula"
	case DenySiteLocal:
		return "site_local"
	case DenyTeredo:
		return "teredo"
	case DenySixToFour:
		return "sixtofour_embedded"
	case DenyNAT64Embedded:
		return "nat64_embedded"
	case DenyNotGlobal:
		return "not_global"
	}
	return "unknown"
}
