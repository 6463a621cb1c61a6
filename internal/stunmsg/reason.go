package stunmsg

// Reason says why a message, value or build was refused. It implements error;
// every error returned by this package is a Reason, so callers can compare
// with == and count drops by reason. Returning a Reason as an error does not
// allocate.
type Reason uint8

// Reasons for refusing input or output. The zero Reason is "ok" and is never
// returned as an error.
const (
	ReasonOK Reason = iota

	// Message framing (Message.Parse).
	ReasonTooShort           // fewer than 20 bytes (RFC 8489 §6.3)
	ReasonBadTopBits         // two most significant bits not 00 (RFC 8489 §5)
	ReasonBadCookie          // magic cookie mismatch (RFC 8489 §5, RFC 8656 §5)
	ReasonBadLength          // Length field not a multiple of 4 (RFC 8489 §5)
	ReasonLengthMismatch     // datagram or frame size differs from 20+Length (RFC 8489 §6.3)
	ReasonAttrOverrun        // attribute or its padding runs past the end (RFC 8489 §14)
	ReasonTooManyAttrs       // more than MaxAttributes attributes
	ReasonFingerprintNotLast // an attribute follows FINGERPRINT (RFC 8489 §14.7)
	ReasonBadFingerprint     // FINGERPRINT value wrong or not 4 bytes (RFC 8489 §14.7)

	// Attribute values (Decode* functions).
	ReasonBadValueLength // value length not the one the attribute's format requires
	ReasonBadFamily      // address family other than 0x01 or 0x02 (RFC 8489 §14.1)
	ReasonBadText        // text not UTF-8 or over its length limit (RFC 8489 §14.3, §14.8–§14.10, §14.14)
	ReasonBadErrorCode   // error class outside 3–6 or number above 99 (RFC 8489 §14.8)

	// Building (Builder, Put* functions).
	ReasonBufferTooSmall // caller's buffer capacity exhausted
	ReasonValueTooLong   // value or message exceeds the 16-bit length fields
	ReasonBadOrder       // attribute added after MESSAGE-INTEGRITY(-SHA256) or FINGERPRINT
	ReasonBadAddress     // invalid netip.AddrPort
	ReasonBadType        // message type with either of the two top bits set

	reasonCount
)

var reasonLabels = [reasonCount]string{
	ReasonOK:                 "ok",
	ReasonTooShort:           "too_short",
	ReasonBadTopBits:         "bad_top_bits",
	ReasonBadCookie:          "bad_cookie",
	ReasonBadLength:          "bad_length",
	ReasonLengthMismatch:     "length_mismatch",
	ReasonAttrOverrun:        "attr_overrun",
	ReasonTooManyAttrs:       "too_many_attrs",
	ReasonFingerprintNotLast: "fingerprint_not_last",
	ReasonBadFingerprint:     "bad_fingerprint",
	ReasonBadValueLength:     "bad_value_length",
	ReasonBadFamily:          "bad_family",
	ReasonBadText:            "bad_text",
	ReasonBadErrorCode:       "bad_error_code",
	ReasonBufferTooSmall:     "buffer_too_small",
	ReasonValueTooLong:       "value_too_long",
	ReasonBadOrder:           "bad_order",
	ReasonBadAddress:         "bad_address",
	ReasonBadType:            "bad_type",
}

var reasonMessages = [reasonCount]string{
	ReasonOK:                 "stunmsg: ok",
	ReasonTooShort:           "stunmsg: shorter than the 20-byte STUN header",
	ReasonBadTopBits:         "stunmsg: top two bits of the message type are not zero",
	ReasonBadCookie:          "stunmsg: bad magic cookie",
	ReasonBadLength:          "stunmsg: message length is not a multiple of 4",
	ReasonLengthMismatch:     "stunmsg: datagram size differs from 20 + message length",
	ReasonAttrOverrun:        "stunmsg: attribute runs past the end of the message",
	ReasonTooManyAttrs:       "stunmsg: too many attributes",
	ReasonFingerprintNotLast: "stunmsg: FINGERPRINT is not the last attribute",
	ReasonBadFingerprint:     "stunmsg: FINGERPRINT mismatch",
	ReasonBadValueLength:     "stunmsg: attribute value has the wrong length",
	ReasonBadFamily:          "stunmsg: unknown address family",
	ReasonBadText:            "stunmsg: text attribute is not valid UTF-8 or too long",
	ReasonBadErrorCode:       "stunmsg: error code out of range",
	ReasonBufferTooSmall:     "stunmsg: buffer too small",
	ReasonValueTooLong:       "stunmsg: value or message too long",
	ReasonBadOrder:           "stunmsg: attribute after MESSAGE-INTEGRITY or FINGERPRINT",
	ReasonBadAddress:         "stunmsg: invalid address",
	ReasonBadType:            "stunmsg: message type has a top bit set",
}

// String returns the reason as a metric label such as "bad_cookie".
func (r Reason) String() string {
	if r >= reasonCount {
		return "unknown"
	}
	return reasonLabels[r]
}

// Error describes the reason in words.
func (r Reason) Error() string {
	if r >= reasonCount {
		return "stunmsg: unknown reason"
	}
	return reasonMessages[r]
}

// Reasons returns every reason except ReasonOK, in a new slice, for
// pre-registering metric label values.
func Reasons() []Reason {
	rs := make([]Reason, 0, reasonCount-1)
	for r := ReasonOK + 1; r < reasonCount; r++ {
		rs = append(rs, r)
	}
	return rs
}
