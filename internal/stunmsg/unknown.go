package stunmsg

// UnknownRequired appends to dst, once each and in wire order, the
// comprehension-required attribute types (0x0000–0x7FFF) recorded in m that
// this relay does not understand, and returns the extended slice
// (RFC 8489 §6.3, §14.13: a request with any → 420 with UNKNOWN-ATTRIBUTES;
// an indication with any → discard, §6.3.2). Attributes Parse skipped after
// MESSAGE-INTEGRITY are never listed (RFC 8489 §9). It does not allocate when
// dst has room for the result; at most MaxAttributes types are appended.
//
// Understood: MAPPED-ADDRESS, USERNAME, MESSAGE-INTEGRITY, ERROR-CODE,
// UNKNOWN-ATTRIBUTES, CHANNEL-NUMBER, LIFETIME, XOR-PEER-ADDRESS, DATA,
// REALM, NONCE, XOR-RELAYED-ADDRESS, REQUESTED-ADDRESS-FAMILY, EVEN-PORT,
// REQUESTED-TRANSPORT, DONT-FRAGMENT, MESSAGE-INTEGRITY-SHA256,
// XOR-MAPPED-ADDRESS, RESERVATION-TOKEN, and the ICE attributes PRIORITY and
// USE-CANDIDATE (known and ignored, as coturn does, so ICE Binding requests
// such as RFC 5769 §2.1 succeed). CHANGE-REQUEST (0x0003, RFC 5780) counts as
// understood only when its value is four zero bytes: a request that asks for
// nothing to change can be answered, which is coturn's interop exception
// (docs/protocol.md). ACCESS-TOKEN, PASSWORD-ALGORITHM, USERHASH and
// CONNECTION-ID are not implemented and so are unknown (RFC 8489 §6.3).
// Whether an understood attribute is allowed in a given method is the caller's concern
// (RFC 8489 §6.3: known but unexpected attributes are ignored).
func (m *Message) UnknownRequired(dst []uint16) []uint16 {
	start := len(dst)
	for _, a := range m.attrs[:m.n] {
		if !IsComprehensionRequired(a.Type) || understood(a.Type, m.Value(a)) {
			continue
		}
		if listed(dst[start:], a.Type) {
			continue
		}
		dst = append(dst, a.Type)
	}
	return dst
}

// understood reports whether the comprehension-required type t, with value v,
// is in this relay's known set (see UnknownRequired).
func understood(t uint16, v []byte) bool {
	switch t {
	case AttrMappedAddress, AttrUsername, AttrMessageIntegrity, AttrErrorCode,
		AttrUnknownAttributes, AttrChannelNumber, AttrLifetime,
		AttrXORPeerAddress, AttrData, AttrRealm, AttrNonce,
		AttrXORRelayedAddress, AttrRequestedAddressFamily, AttrEvenPort,
		AttrRequestedTransport, AttrDontFragment, AttrMessageIntegritySHA256,
		AttrXORMappedAddress, AttrReservationToken, AttrPriority,
		AttrUseCandidate:
		return true
	case AttrChangeRequest:
		// RFC 5780 §7.2: 4 bytes, flags A (change IP) and B (change port).
		// All zero asks for nothing this relay would have to do.
		return len(v) == 4 && v[0]|v[1]|v[2]|v[3] == 0
	}
	return false
}

func listed(types []uint16, t uint16) bool {
	for _, u := range types {
		if u == t {
			return true
		}
	}
	return false
}
