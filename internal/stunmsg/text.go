package stunmsg

import "unicode/utf8"

// Text attribute limits (RFC 8489 §14.3, §14.8, §14.9, §14.10, §14.14).
const (
	// MaxTextBytes is the largest text value accepted on receipt: USERNAME
	// "MAY be as long as 763 bytes" when received (§14.3), and the
	// fewer-than-128-character values may take up to 763 bytes.
	MaxTextBytes = 763
	// MaxTextChars is the largest character count of REALM, NONCE,
	// SOFTWARE and error reason phrases: "fewer than 128 characters".
	MaxTextChars = 127
	// MaxUsernameSendBytes is the largest USERNAME this package builds:
	// "fewer than 509 bytes" (§14.3).
	MaxUsernameSendBytes = 508
)

// ValidUsername reports whether v is an acceptable received USERNAME:
// UTF-8 of at most 763 bytes (RFC 8489 §14.3). OpaqueString preparation is
// the caller's concern.
func ValidUsername(v []byte) bool {
	return len(v) <= MaxTextBytes && utf8.Valid(v)
}

// ValidText reports whether v is an acceptable REALM, SOFTWARE or error
// reason phrase: UTF-8, fewer than 128 characters, at most 763 bytes
// (RFC 8489 §14.8, §14.9, §14.14).
func ValidText(v []byte) bool {
	return len(v) <= MaxTextBytes && utf8.Valid(v) && utf8.RuneCount(v) <= MaxTextChars
}

// ValidNonce reports whether v is an acceptable NONCE: ValidText, and a
// sequence of qdtext or quoted-pair as RFC 3261 §25.1 defines them
// (RFC 8489 §14.10): a backslash escapes any byte 0x00–0x7F except CR and
// LF; otherwise the characters allowed are SP, HTAB, CRLF followed by SP or
// HTAB (line folding), 0x21, 0x23–0x5B, 0x5D–0x7E and non-ASCII UTF-8; the
// double quote and other controls are not.
func ValidNonce(v []byte) bool {
	if !ValidText(v) {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\':
			// quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
			i++
			if i >= len(v) || v[i] > 0x7F || v[i] == '\r' || v[i] == '\n' {
				return false
			}
		case c == '\r':
			// LWS = [*WSP CRLF] 1*WSP
			if i+2 >= len(v) || v[i+1] != '\n' || (v[i+2] != ' ' && v[i+2] != '\t') {
				return false
			}
			i++
		case c == ' ' || c == '\t' || c == 0x21 || c >= 0x23 && c <= 0x5B ||
			c >= 0x5D && c <= 0x7E || c >= 0x80:
			// qdtext; bytes >= 0x80 are UTF8-NONASCII, already validated.
		default:
			return false
		}
	}
	return true
}

// DecodeText returns v if it is a valid value for the text attribute type t:
// USERNAME per ValidUsername, NONCE per ValidNonce, REALM, SOFTWARE and
// ALTERNATE-DOMAIN per ValidText, any other type as UTF-8 of at most 763
// bytes. Otherwise it returns ReasonBadText. Does not allocate.
func DecodeText(t uint16, v []byte) ([]byte, error) {
	var ok bool
	switch t {
	case AttrUsername:
		ok = ValidUsername(v)
	case AttrNonce:
		ok = ValidNonce(v)
	case AttrRealm, AttrSoftware, AttrAlternateDomain:
		ok = ValidText(v)
	default:
		ok = ValidUsername(v)
	}
	if !ok {
		return nil, ReasonBadText
	}
	return v, nil
}

// validTextString is ValidText for a string, without converting it.
func validTextString(s string) bool {
	return len(s) <= MaxTextBytes && utf8.ValidString(s) && utf8.RuneCountInString(s) <= MaxTextChars
}
