package stunmsg

// Error codes this relay sends (docs/protocol.md), for AddErrorCode.
const (
	CodeTryAlternate               = 300 // RFC 8489 §14.8
	CodeBadRequest                 = 400 // RFC 8489 §14.8
	CodeUnauthenticated            = 401 // RFC 8489 §14.8
	CodeForbidden                  = 403 // RFC 8656 §19
	CodeUnknownAttribute           = 420 // RFC 8489 §14.8
	CodeAllocationMismatch         = 437 // RFC 8656 §19
	CodeStaleNonce                 = 438 // RFC 8489 §14.8
	CodeAddressFamilyNotSupported  = 440 // RFC 8656 §19
	CodeWrongCredentials           = 441 // RFC 8656 §19
	CodeUnsupportedTransport       = 442 // RFC 8656 §19
	CodePeerAddressFamilyMismatch  = 443 // RFC 8656 §19
	CodeConnectionAlreadyExists    = 446 // RFC 6062 §6.3
	CodeConnectionTimeoutOrFailure = 447 // RFC 6062 §6.3
	CodeAllocationQuotaReached     = 486 // RFC 8656 §19
	CodeServerError                = 500 // RFC 8489 §14.8
	CodeInsufficientCapacity       = 508 // RFC 8656 §19
)

// DefaultReason returns the reason phrase the RFCs suggest for code, or ""
// for codes without one.
func DefaultReason(code int) string {
	switch code {
	case CodeTryAlternate:
		return "Try Alternate"
	case CodeBadRequest:
		return "Bad Request"
	case CodeUnauthenticated:
		return "Unauthenticated"
	case CodeForbidden:
		return "Forbidden"
	case CodeUnknownAttribute:
		return "Unknown Attribute"
	case CodeAllocationMismatch:
		return "Allocation Mismatch"
	case CodeStaleNonce:
		return "Stale Nonce"
	case CodeAddressFamilyNotSupported:
		return "Address Family not Supported"
	case CodeWrongCredentials:
		return "Wrong Credentials"
	case CodeUnsupportedTransport:
		return "Unsupported Transport Protocol"
	case CodePeerAddressFamilyMismatch:
		return "Peer Address Family Mismatch"
	case CodeConnectionAlreadyExists:
		return "Connection Already Exists"
	case CodeConnectionTimeoutOrFailure:
		return "Connection Timeout or Failure"
	case CodeAllocationQuotaReached:
		return "Allocation Quota Reached"
	case CodeServerError:
		return "Server Error"
	case CodeInsufficientCapacity:
		return "Insufficient Capacity"
	}
	return ""
}

// validCode reports whether code is expressible in ERROR-CODE: class 3–6 and
// number 0–99 (RFC 8489 §14.8).
func validCode(code int) bool { return code >= 300 && code <= 699 }

// decodeCodeWord decodes the class and number of the 4-byte word that starts
// ERROR-CODE and ADDRESS-ERROR-CODE: reserved bits, class in the low 3 bits
// of byte 2, number in byte 3 (RFC 8489 §14.8, RFC 8656 §18.12).
func decodeCodeWord(v []byte) (code int, reason []byte, err error) {
	if len(v) < 4 {
		return 0, nil, ReasonBadValueLength
	}
	class, number := int(v[2]&0x07), int(v[3])
	if class < 3 || class > 6 || number > 99 {
		return 0, nil, ReasonBadErrorCode
	}
	if !ValidText(v[4:]) {
		return 0, nil, ReasonBadText
	}
	return class*100 + number, v[4:], nil
}

// DecodeErrorCode decodes ERROR-CODE (RFC 8489 §14.8): 21 reserved bits
// (ignored), class 3–6, number 0–99, then a UTF-8 reason phrase of fewer
// than 128 characters. The reason aliases v. Does not allocate.
func DecodeErrorCode(v []byte) (code int, reason []byte, err error) {
	return decodeCodeWord(v)
}

// DecodeAddressErrorCode decodes ADDRESS-ERROR-CODE (RFC 8656 §18.12): the
// address family byte, 13 reserved bits, class, number and reason phrase,
// with the same rules as ERROR-CODE. The family is returned as received.
func DecodeAddressErrorCode(v []byte) (family Family, code int, reason []byte, err error) {
	code, reason, err = decodeCodeWord(v)
	if err != nil {
		return 0, 0, nil, err
	}
	return Family(v[0]), code, reason, nil
}
