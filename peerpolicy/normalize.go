package peerpolicy

import "net/netip"

// Embedding says how an IPv6 address carries IPv4 addresses that the packet
// may end up at. Whoever decides whether a peer is reachable (this package's
// Filter, the gateway's never-reachable rule) must judge those IPv4
// addresses too, or a denied IPv4 address comes back in an IPv6 disguise.
type Embedding uint8

// Embeddings that Normalize recognises.
const (
	// EmbedNone: a native address (IPv4, or IPv6 that carries no IPv4).
	// IPv4-mapped ::ffff:a.b.c.d (RFC 4291 §2.5.5.2) is unmapped to a.b.c.d
	// and so reported as EmbedNone with an IPv4 Addr.
	EmbedNone Embedding = iota
	// EmbedCompat: deprecated IPv4-compatible ::a.b.c.d (RFC 4291
	// §2.5.5.1), except :: and ::1; Linux still sends these through sit
	// tunnels to a.b.c.d.
	EmbedCompat
	// EmbedNAT64: the well-known NAT64 prefix 64:ff9b::/96 (RFC 6052 §2.1),
	// IPv4 in the last 32 bits.
	EmbedNAT64
	// EmbedNAT64Local: the local-use NAT64 prefix 64:ff9b:1::/48 (RFC 8215).
	// A translator may use any RFC 6052 §2.2 prefix length of at least 48
	// inside it, so the IPv4 address could sit in one of four places; all
	// four readings are reported.
	EmbedNAT64Local
	// EmbedSixToFour: 6to4 2002:AABB:CCDD::/48 carries A.B.C.D in bits
	// 16-47 (RFC 3056 §2).
	EmbedSixToFour
	// EmbedTeredo: Teredo 2001:0::/32 carries the Teredo server's IPv4 in
	// bits 32-63 and the client's, every bit inverted, in bits 96-127
	// (RFC 4380 §4); a relay forwards to the client's address.
	EmbedTeredo
)

// MaxEmbedded is the most IPv4 addresses one IPv6 address is read as
// (EmbedNAT64Local).
const MaxEmbedded = 4

// Normalized is a peer address in canonical form and the IPv4 addresses it
// carries. It is a value: Normalize does not allocate.
type Normalized struct {
	// Addr is the address unmapped and without zone.
	Addr netip.Addr
	// Kind says how Addr embeds IPv4; EmbedNone when it does not.
	Kind Embedding
	// IPv4 holds the N embedded IPv4 addresses; N is 0 for EmbedNone.
	IPv4 [MaxEmbedded]netip.Addr
	N    int
}

var (
	prefixCompat      = netip.MustParsePrefix("::/96")
	prefixNAT64       = netip.MustParsePrefix("64:ff9b::/96")
	prefixNAT64Local  = netip.MustParsePrefix("64:ff9b:1::/48")
	prefixSixToFour   = netip.MustParsePrefix("2002::/16")
	prefixTeredo      = netip.MustParsePrefix("2001::/32")
	addrUnspecified6  = netip.IPv6Unspecified()
	addrLoopback6     = netip.IPv6Loopback()
	invalidNormalized = Normalized{}
)

// Normalize is the one canonical reading of a peer address shared by every
// rule that judges peers: the address unmapped and without zone, and each
// IPv4 address it embeds (compatible, NAT64 well-known and local-use, 6to4,
// Teredo). An invalid address gives the zero Normalized.
func Normalize(ip netip.Addr) Normalized {
	if !ip.IsValid() {
		return invalidNormalized
	}
	n := Normalized{Addr: ip.Unmap().WithZone("")}
	if !n.Addr.Is6() {
		return n
	}
	a := n.Addr
	b := a.As16()
	v4 := func(i, j, k, l int) netip.Addr { return netip.AddrFrom4([4]byte{b[i], b[j], b[k], b[l]}) }
	switch {
	case prefixCompat.Contains(a):
		// :: and ::1 are the unspecified and loopback addresses, not
		// compatible forms of 0.0.0.0 and 0.0.0.1 (RFC 4291 §2.5.2, §2.5.3).
		if a == addrUnspecified6 || a == addrLoopback6 {
			return n
		}
		n.Kind, n.N = EmbedCompat, 1
		n.IPv4[0] = v4(12, 13, 14, 15)
	case prefixNAT64.Contains(a):
		n.Kind, n.N = EmbedNAT64, 1
		n.IPv4[0] = v4(12, 13, 14, 15)
	case prefixNAT64Local.Contains(a):
		// RFC 6052 §2.2 layouts for /48, /56, /64 and /96; byte 8 (bits
		// 64-71) is the reserved "u" octet, skipped by every layout that
		// spans it.
		n.Kind, n.N = EmbedNAT64Local, 4
		n.IPv4 = [MaxEmbedded]netip.Addr{v4(6, 7, 9, 10), v4(7, 9, 10, 11), v4(9, 10, 11, 12), v4(12, 13, 14, 15)}
	case prefixSixToFour.Contains(a):
		n.Kind, n.N = EmbedSixToFour, 1
		n.IPv4[0] = v4(2, 3, 4, 5)
	case prefixTeredo.Contains(a):
		n.Kind, n.N = EmbedTeredo, 2
		n.IPv4[0] = v4(4, 5, 6, 7)
		n.IPv4[1] = netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})
	}
	return n
}

// Embedded returns the embedded IPv4 addresses; the slice shares n's array.
func (n *Normalized) Embedded() []netip.Addr { return n.IPv4[:n.N] }
