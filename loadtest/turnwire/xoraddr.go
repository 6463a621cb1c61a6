package turnwire

import (
	"errors"
	"net/netip"
)

// Address families in XOR-*-ADDRESS values (RFC 8489 §14.1, §14.2).
const (
	familyIPv4 = 0x01
	familyIPv6 = 0x02
)

// XOR address value sizes: 4 bytes of reserved/family/port, then the address
// (RFC 8489 §14.2).
const (
	xorAddrSizeIPv4 = 4 + 4
	xorAddrSizeIPv6 = 4 + 16
)

// ErrBadAddress reports an XOR-*-ADDRESS value that is not exactly the size
// its family requires, or names an unknown family.
var ErrBadAddress = errors.New("turnwire: malformed XOR address attribute")

// XORAddrSize returns the size of the XOR-*-ADDRESS attribute value for addr's
// family: 8 for IPv4, 20 for IPv6 (RFC 8489 §14.2).
func XORAddrSize(addr netip.AddrPort) int {
	if addr.Addr().Unmap().Is4() {
		return xorAddrSizeIPv4
	}
	return xorAddrSizeIPv6
}

// PutXORAddr writes the XOR-*-ADDRESS value of addr into dst and returns the
// number of bytes written (XORAddrSize(addr)). IPv4-mapped IPv6 addresses are
// written as IPv4. The port is XORed with the top 16 bits of the magic cookie
// and the address with the cookie (IPv4) or the cookie followed by the
// transaction ID (IPv6), RFC 8489 §14.2. dst must have room for the value; the
// function panics otherwise, like a slice write (callers size dst with
// XORAddrSize).
func PutXORAddr(dst []byte, addr netip.AddrPort, txid *[12]byte) int {
	ip := addr.Addr().Unmap()
	dst[0] = 0
	be.PutUint16(dst[2:4], addr.Port()^uint16(MagicCookie>>16))
	if ip.Is4() {
		dst[1] = familyIPv4
		a := ip.As4()
		be.PutUint32(dst[4:8], be.Uint32(a[:])^MagicCookie)
		return xorAddrSizeIPv4
	}
	dst[1] = familyIPv6
	a := ip.As16()
	var mask [16]byte
	be.PutUint32(mask[0:4], MagicCookie)
	copy(mask[4:], txid[:])
	for i := range a {
		dst[4+i] = a[i] ^ mask[i]
	}
	return xorAddrSizeIPv6
}

// ParseXORAddr decodes an XOR-*-ADDRESS attribute value. The value must be
// exactly 8 bytes for IPv4 or 20 bytes for IPv6 (RFC 8489 §14.2); anything
// else is ErrBadAddress. It never panics, unlike pion/stun v2's GetFromAs on
// a short value.
func ParseXORAddr(v []byte, txid *[12]byte) (netip.AddrPort, error) {
	if len(v) < 4 {
		return netip.AddrPort{}, ErrBadAddress
	}
	port := be.Uint16(v[2:4]) ^ uint16(MagicCookie>>16)
	switch v[1] {
	case familyIPv4:
		if len(v) != xorAddrSizeIPv4 {
			return netip.AddrPort{}, ErrBadAddress
		}
		var a [4]byte
		be.PutUint32(a[:], be.Uint32(v[4:8])^MagicCookie)
		return netip.AddrPortFrom(netip.AddrFrom4(a), port), nil
	case familyIPv6:
		if len(v) != xorAddrSizeIPv6 {
			return netip.AddrPort{}, ErrBadAddress
		}
		var mask, a [16]byte
		be.PutUint32(mask[0:4], MagicCookie)
		copy(mask[4:], txid[:])
		for i := range a {
			a[i] = v[4+i] ^ mask[i]
		}
		return netip.AddrPortFrom(netip.AddrFrom16(a), port), nil
	default:
		return netip.AddrPort{}, ErrBadAddress
	}
}
