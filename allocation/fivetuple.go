package allocation

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Transport is the protocol between client and server, the fifth element
// of a 5-tuple (RFC 8656 §2). The zero value is not a transport.
type Transport uint8

// Transports between client and server (RFC 8656 §5).
const (
	TransportUDP  Transport = 1 // plain UDP
	TransportTCP  Transport = 2 // plain TCP
	TransportTLS  Transport = 3 // TLS over TCP
	TransportDTLS Transport = 4 // DTLS over UDP
)

// Valid reports whether t is one of the defined transports.
func (t Transport) Valid() bool { return t >= TransportUDP && t <= TransportDTLS }

// String returns the conventional lower-case name, e.g. "udp".
func (t Transport) String() string {
	switch t {
	case TransportUDP:
		return "udp"
	case TransportTCP:
		return "tcp"
	case TransportTLS:
		return "tls"
	case TransportDTLS:
		return "dtls"
	}
	return "invalid"
}

// FiveTuple identifies an allocation: the client's and the server's
// transport addresses as the server sees them, and the transport between
// them (RFC 8656 §2). Server must be the address the packet was sent to,
// not a wildcard bind address (RFC 8656 §2).
//
// Two FiveTuples name the same allocation when they are equal after
// Canonical: IPv4-mapped IPv6 addresses compare equal to the IPv4 address
// they wrap, and IPv6 zones are not part of the 5-tuple.
type FiveTuple struct {
	Client    netip.AddrPort
	Server    netip.AddrPort
	Transport Transport
}

// Canonical returns ft with both addresses unmapped (RFC 4291 §2.5.5.2
// IPv4-mapped form → IPv4) and stripped of zones.
func (ft FiveTuple) Canonical() FiveTuple {
	return FiveTuple{
		Client:    canonicalAddrPort(ft.Client),
		Server:    canonicalAddrPort(ft.Server),
		Transport: ft.Transport,
	}
}

// Valid reports whether both addresses are valid IP addresses and the
// transport is defined.
func (ft FiveTuple) Valid() bool {
	return ft.Client.Addr().IsValid() && ft.Server.Addr().IsValid() && ft.Transport.Valid()
}

func canonicalAddrPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
}

// Family is an IP address family, numbered as in STUN address attributes
// and REQUESTED-ADDRESS-FAMILY (RFC 8489 §14.1, RFC 8656 §18.8).
type Family uint8

// Address families.
const (
	FamilyIPv4 Family = 0x01
	FamilyIPv6 Family = 0x02
)

// FamilyOf returns the family of ip after unmapping; the second result is
// false for the zero Addr.
func FamilyOf(ip netip.Addr) (Family, bool) {
	switch {
	case !ip.IsValid():
		return 0, false
	case ip.Unmap().Is4():
		return FamilyIPv4, true
	}
	return FamilyIPv6, true
}

// familyIndex maps a valid Family to 0 (IPv4) or 1 (IPv6) for per-family
// counters.
func familyIndex(f Family) int { return int(f-FamilyIPv4) & 1 }

// addrKey is a transport address as a fixed-size, pointer-free map key: the
// 16-byte form of the unmapped address (IPv4 as ::ffff:a.b.c.d, zone
// dropped) and the port. Go maps hash it without touching the heap.
type addrKey struct {
	ip   [16]byte
	port uint16
}

func addrKeyOf(ap netip.AddrPort) addrKey {
	return addrKey{ip: ap.Addr().Unmap().As16(), port: ap.Port()}
}

// addrPort converts back; IPv4 comes back unmapped.
func (k addrKey) addrPort() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(k.ip).Unmap(), k.port)
}

// ipKey is the pointer-free key of a permission: the 16-byte form of the
// unmapped peer IP. Ports are never part of it (RFC 8656 §9).
type ipKey [16]byte

func ipKeyOf(ip netip.Addr) ipKey { return ip.Unmap().As16() }

// tupleKey is the pointer-free map key of a 5-tuple. Its fields leave no
// padding, so the map hashes and compares it as one 38-byte block.
type tupleKey struct {
	clientIP, serverIP     [16]byte
	clientPort, serverPort uint16
	transport              uint16
}

func tupleKeyOf(ft FiveTuple) tupleKey {
	return tupleKey{
		clientIP:   ft.Client.Addr().Unmap().As16(),
		serverIP:   ft.Server.Addr().Unmap().As16(),
		clientPort: ft.Client.Port(),
		serverPort: ft.Server.Port(),
		transport:  uint16(ft.Transport),
	}
}

// hash mixes k with a per-table random seed to choose a shard. It is not
// the map's hash (Go maps hash with their own per-map seed); it only spreads
// allocations over shards, and the seed stops clients from aiming many
// 5-tuples at one shard's lock.
func (k *tupleKey) hash(seed uint64) uint64 {
	const m1, m2, m3 = 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
	c0 := binary.LittleEndian.Uint64(k.clientIP[:8])
	c1 := binary.LittleEndian.Uint64(k.clientIP[8:])
	s0 := binary.LittleEndian.Uint64(k.serverIP[:8])
	s1 := binary.LittleEndian.Uint64(k.serverIP[8:])
	ports := uint64(k.clientPort) | uint64(k.serverPort)<<16 | uint64(k.transport)<<32
	h := mix(c0^seed, c1^m1)
	h = mix(h^s0, s1^m2)
	return mix(h^ports, seed^m3)
}

// mix is a 64×64→128-bit multiply folded to 64 bits.
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}
