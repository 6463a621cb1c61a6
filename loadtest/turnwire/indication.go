package turnwire

import "net/netip"

// SendIndicationSize returns the size of a Send indication to peer carrying n
// bytes of data: header, XOR-PEER-ADDRESS and DATA (padded), RFC 8656 §11.1.
func SendIndicationSize(peer netip.AddrPort, n int) int {
	return HeaderSize + attrHeaderSize + XORAddrSize(peer) + attrHeaderSize + pad4(n)
}

// PutSendIndication writes a Send indication (RFC 8656 §11.1) with the given
// transaction ID and peer into dst, sized for n bytes of data, and returns the
// offset at which the caller must place those n bytes. The padding after the
// data is zeroed here. dst must be at least SendIndicationSize(peer, n) bytes;
// the message occupies exactly that many. The function does not allocate.
//
// Indications carry no MESSAGE-INTEGRITY (RFC 8656 §5). The transaction ID of
// an indication only has to be unique enough for debugging; callers pass a
// fresh one per message.
func PutSendIndication(dst []byte, txid *[12]byte, peer netip.AddrPort, n int) (dataOffset int) {
	size := SendIndicationSize(peer, n)
	be.PutUint16(dst[0:2], typeSendIndication)
	be.PutUint16(dst[2:4], uint16(size-HeaderSize))
	be.PutUint32(dst[4:8], MagicCookie)
	copy(dst[8:20], txid[:])
	off := HeaderSize
	alen := PutXORAddr(dst[off+attrHeaderSize:], peer, txid)
	be.PutUint16(dst[off:off+2], attrXORPeerAddress)
	be.PutUint16(dst[off+2:off+4], uint16(alen))
	off += attrHeaderSize + alen
	be.PutUint16(dst[off:off+2], attrData)
	be.PutUint16(dst[off+2:off+4], uint16(n))
	off += attrHeaderSize
	for i := off + n; i < size; i++ {
		dst[i] = 0
	}
	return off
}

// ParseDataIndication decodes a Data indication (RFC 8656 §11.4) in b, which
// must hold exactly one STUN message (a UDP datagram or one stream frame), and
// returns the DATA attribute's value, which aliases b. ok is false when b is
// not a well-formed Data indication carrying DATA; an indication carrying
// ICMP instead of DATA (RFC 8656 §11.5) also yields ok false. It does not
// allocate.
func ParseDataIndication(b []byte) (data []byte, ok bool) {
	if !isSTUNHeader(b) || be.Uint16(b[0:2]) != typeDataIndication {
		return nil, false
	}
	v, found := findAttr(b, attrData)
	return v, found
}

// isSTUNHeader applies the basic STUN checks of RFC 8489 §6.3 that a client
// needs: at least a header, top two bits zero (§5), the magic cookie, a length
// that is a multiple of 4 (§5) and equal to the bytes that follow the header.
func isSTUNHeader(b []byte) bool {
	if len(b) < HeaderSize || b[0]&0xC0 != 0 || be.Uint32(b[4:8]) != MagicCookie {
		return false
	}
	n := int(be.Uint16(b[2:4]))
	return n%4 == 0 && HeaderSize+n == len(b)
}

// findAttr walks the attributes of a message that passed isSTUNHeader and
// returns the value of the first attribute of type t (RFC 8489 §14: only the
// first of duplicates matters). An attribute running past the end makes the
// whole message malformed (ok false).
func findAttr(b []byte, t uint16) (value []byte, ok bool) {
	rest := b[HeaderSize:]
	for len(rest) > 0 {
		// Every attribute starts with 2 bytes of type and 2 of length.
		if len(rest) < attrHeaderSize {
			return nil, false
		}
		at := be.Uint16(rest[0:2])
		n := int(be.Uint16(rest[2:4]))
		padded := pad4(n)
		// The padded value must fit in what remains (RFC 8489 §14).
		if len(rest)-attrHeaderSize < padded {
			return nil, false
		}
		if at == t {
			return rest[attrHeaderSize : attrHeaderSize+n], true
		}
		rest = rest[attrHeaderSize+padded:]
	}
	return nil, false
}
