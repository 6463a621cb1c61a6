package stunmsg

import (
	"encoding/binary"
	"net/netip"
)

// Address attribute value sizes (RFC 8489 §14.1, §14.2): reserved byte,
// family, port, then 4 or 16 address bytes.
const (
	addrSizeIPv4 = 8
	addrSizeIPv6 = 20
)

// DecodeXORAddress decodes an XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS or
// XOR-RELAYED-ADDRESS value (RFC 8489 §14.2, RFC 8656 §18.3, §18.5): the
// port is XORed with the top 16 bits of the magic cookie, an IPv4 address
// with the cookie, an IPv6 address with the cookie followed by txid. The value
// must be exactly 8 bytes for family 0x01 and 20 for 0x02
// (ReasonBadValueLength; an empty or short value is an error, unlike
// pion/stun/v2 which panics); other families give ReasonBadFamily. The
// reserved first byte is ignored (RFC 8489 §14.1). Does not allocate.
func DecodeXORAddress(v []byte, txid [12]byte) (netip.AddrPort, error) {
	ap, err := DecodeAddress(v)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return xorAddrPort(ap, &txid), nil
}

// DecodeAddress decodes a MAPPED-ADDRESS or ALTERNATE-SERVER value
// (RFC 8489 §14.1, §14.15) with the same length and family rules as
// DecodeXORAddress but without the XOR.
func DecodeAddress(v []byte) (netip.AddrPort, error) {
	if len(v) < 4 {
		return netip.AddrPort{}, ReasonBadValueLength
	}
	port := binary.BigEndian.Uint16(v[2:4])
	switch Family(v[1]) {
	case FamilyIPv4:
		if len(v) != addrSizeIPv4 {
			return netip.AddrPort{}, ReasonBadValueLength
		}
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(v[4:8])), port), nil
	case FamilyIPv6:
		if len(v) != addrSizeIPv6 {
			return netip.AddrPort{}, ReasonBadValueLength
		}
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(v[4:20])), port), nil
	}
	return netip.AddrPort{}, ReasonBadFamily
}

// xorAddrPort applies the RFC 8489 §14.2 XOR; it is its own inverse.
func xorAddrPort(ap netip.AddrPort, txid *[12]byte) netip.AddrPort {
	port := ap.Port() ^ uint16(MagicCookie>>16)
	var mask [16]byte
	binary.BigEndian.PutUint32(mask[0:4], MagicCookie)
	copy(mask[4:], txid[:])
	addr := ap.Addr()
	if addr.Is4() {
		a := addr.As4()
		for i := range a {
			a[i] ^= mask[i]
		}
		return netip.AddrPortFrom(netip.AddrFrom4(a), port)
	}
	a := addr.As16()
	for i := range a {
		a[i] ^= mask[i]
	}
	return netip.AddrPortFrom(netip.AddrFrom16(a), port)
}

// addressSize returns the value size an address attribute for ap needs, or 0
// if ap is invalid. An IPv4-mapped IPv6 address is encoded as IPv6; callers
// that mean IPv4 pass ap with the address unmapped (netip.Addr.Unmap).
func addressSize(ap netip.AddrPort) int {
	switch {
	case !ap.IsValid():
		return 0
	case ap.Addr().Is4():
		return addrSizeIPv4
	}
	return addrSizeIPv6
}

// putAddress writes the address value for ap into dst, which has exactly
// addressSize(ap) bytes. The zone of an IPv6 address is dropped.
func putAddress(dst []byte, ap netip.AddrPort) {
	dst[0] = 0
	binary.BigEndian.PutUint16(dst[2:4], ap.Port())
	if ap.Addr().Is4() {
		dst[1] = byte(FamilyIPv4)
		a := ap.Addr().As4()
		copy(dst[4:8], a[:])
		return
	}
	dst[1] = byte(FamilyIPv6)
	a := ap.Addr().As16()
	copy(dst[4:20], a[:])
}

// putXORAddress writes the XOR address value for ap (RFC 8489 §14.2) into
// dst, which has exactly addressSize(ap) bytes.
func putXORAddress(dst []byte, ap netip.AddrPort, txid *[12]byte) {
	putAddress(dst, xorAddrPort(ap, txid))
}
