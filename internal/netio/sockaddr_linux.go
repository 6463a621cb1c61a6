package netio

import (
	"encoding/binary"
	"net/netip"

	"golang.org/x/sys/unix"
)

// sockaddrBytes holds a struct sockaddr_in (16 bytes) or sockaddr_in6
// (28 bytes) exactly as the kernel reads and writes it. Keeping it as bytes
// lets the codecs below check every length and needs no alignment.
//
// Layout (include/uapi/linux/in.h, in6.h): family (2 bytes, host order),
// port (2 bytes, network order), then for AF_INET the address at offset 4
// (4 bytes); for AF_INET6 the flow info at offset 4 (4 bytes), the address at
// offset 8 (16 bytes) and the scope id at offset 24 (4 bytes).
type sockaddrBytes [unix.SizeofSockaddrInet6]byte

const (
	sockaddrFamilyOffset = 0
	sockaddrPortOffset   = 2
	sockaddrIn4Addr      = 4
	sockaddrIn6Addr      = 8
)

// decodeSockaddr returns the address and port of a sockaddr_in or
// sockaddr_in6 in b, which is cut to the length the kernel reported. It
// returns the zero AddrPort (IsValid false) for any other family or for a
// length shorter than the whole structure (16 or 28 bytes), which the kernel
// never reports for these families. IPv4-mapped IPv6 addresses are unmapped. The IPv6 scope id is
// dropped: attaching a zone would allocate, and link-local peers are never
// relayed. It never allocates.
func decodeSockaddr(b []byte) netip.AddrPort {
	if len(b) < sockaddrPortOffset+2 {
		return netip.AddrPort{}
	}
	port := binary.BigEndian.Uint16(b[sockaddrPortOffset:])
	switch binary.NativeEndian.Uint16(b[sockaddrFamilyOffset:]) {
	case unix.AF_INET:
		if len(b) < unix.SizeofSockaddrInet4 {
			return netip.AddrPort{}
		}
		ip := netip.AddrFrom4([4]byte(b[sockaddrIn4Addr : sockaddrIn4Addr+4]))
		return netip.AddrPortFrom(ip, port)
	case unix.AF_INET6:
		if len(b) < unix.SizeofSockaddrInet6 {
			return netip.AddrPort{}
		}
		ip := netip.AddrFrom16([16]byte(b[sockaddrIn6Addr : sockaddrIn6Addr+16])).Unmap()
		return netip.AddrPortFrom(ip, port)
	}
	return netip.AddrPort{}
}

// encodeSockaddr writes to into sa as a sockaddr of the given family
// (unix.AF_INET or unix.AF_INET6) and returns the sockaddr's length, or 0
// when to cannot be sent from a socket of that family (ErrAddressFamily).
// An IPv4-mapped destination counts as IPv4. Zones are ignored (scope id 0).
// It never allocates.
func encodeSockaddr(sa *sockaddrBytes, to netip.AddrPort, family int) uint32 {
	ip := to.Addr().Unmap()
	*sa = sockaddrBytes{}
	binary.BigEndian.PutUint16(sa[sockaddrPortOffset:], to.Port())
	switch {
	case family == unix.AF_INET && ip.Is4():
		binary.NativeEndian.PutUint16(sa[sockaddrFamilyOffset:], unix.AF_INET)
		a := ip.As4()
		copy(sa[sockaddrIn4Addr:], a[:])
		return unix.SizeofSockaddrInet4
	case family == unix.AF_INET6 && ip.Is6():
		binary.NativeEndian.PutUint16(sa[sockaddrFamilyOffset:], unix.AF_INET6)
		a := ip.As16()
		copy(sa[sockaddrIn6Addr:], a[:])
		return unix.SizeofSockaddrInet6
	}
	return 0
}
