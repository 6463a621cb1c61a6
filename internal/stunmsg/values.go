package stunmsg

import "encoding/binary"

// The decoders below are total: a value whose length differs from the one
// its RFC fixes returns ok=false, never a panic. None allocates.

// DecodeUint32 decodes a 4-byte big-endian value such as LIFETIME.
func DecodeUint32(v []byte) (uint32, bool) {
	if len(v) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(v), true
}

// DecodeLifetime decodes LIFETIME, seconds (RFC 8656 §18.2: 4 bytes).
func DecodeLifetime(v []byte) (seconds uint32, ok bool) { return DecodeUint32(v) }

// DecodeChannelNumber decodes CHANNEL-NUMBER (RFC 8656 §18.1): 2-byte channel
// number and 2 RFFU bytes, which are ignored. The number is not range-checked;
// see IsChannelNumber (a number outside 0x4000–0x4FFF in ChannelBind is a
// 400, RFC 8656 §12.2).
func DecodeChannelNumber(v []byte) (channel uint16, ok bool) {
	if len(v) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint16(v[0:2]), true
}

// DecodeRequestedTransport decodes REQUESTED-TRANSPORT (RFC 8656 §18.8): the
// IP protocol number and 3 RFFU bytes, which are ignored. A wrong length is a
// 400 in Allocate (§7.2); an unsupported protocol a 442.
func DecodeRequestedTransport(v []byte) (proto uint8, ok bool) {
	if len(v) != 4 {
		return 0, false
	}
	return v[0], true
}

// DecodeAddressFamily decodes REQUESTED-ADDRESS-FAMILY or
// ADDITIONAL-ADDRESS-FAMILY (RFC 8656 §18.6, §18.11): the family byte and 3
// reserved bytes, which are ignored. The family byte is returned as received:
// values other than 0x01/0x02 are for the caller to refuse (440 for an
// unsupported REQUESTED-ADDRESS-FAMILY, 400 for ADDITIONAL-ADDRESS-FAMILY
// other than 0x02, §7.2).
func DecodeAddressFamily(v []byte) (Family, bool) {
	if len(v) != 4 {
		return 0, false
	}
	return Family(v[0]), true
}

// DecodeEvenPort decodes EVEN-PORT (RFC 8656 §18.7): one byte whose most
// significant bit R asks to reserve the next port; the other 7 bits are RFFU
// and ignored.
func DecodeEvenPort(v []byte) (reserve, ok bool) {
	if len(v) != 1 {
		return false, false
	}
	return v[0]&0x80 != 0, true
}

// DecodeReservationToken decodes RESERVATION-TOKEN (RFC 8656 §18.10): 8
// opaque bytes.
func DecodeReservationToken(v []byte) (token [8]byte, ok bool) {
	if len(v) != 8 {
		return token, false
	}
	return [8]byte(v), true
}

// DecodeICMP decodes the ICMP attribute (RFC 8656 §18.13): 2 reserved bytes
// (ignored), ICMP type, ICMP code and 4 bytes of error data (the next-hop MTU
// for "packet too big"/"fragmentation needed", else 0).
func DecodeICMP(v []byte) (typ, code uint8, data uint32, ok bool) {
	if len(v) != 8 {
		return 0, 0, 0, false
	}
	return v[2], v[3], binary.BigEndian.Uint32(v[4:8]), true
}

// DecodeUnknownAttributes appends to dst the types listed in an
// UNKNOWN-ATTRIBUTES value (RFC 8489 §14.13: 2 bytes per type) and returns
// the extended slice; an odd length gives ok=false and dst unchanged. It
// allocates only if dst lacks room.
func DecodeUnknownAttributes(v []byte, dst []uint16) ([]uint16, bool) {
	if len(v)%2 != 0 {
		return dst, false
	}
	for i := 0; i+2 <= len(v); i += 2 {
		dst = append(dst, binary.BigEndian.Uint16(v[i:i+2]))
	}
	return dst, true
}
