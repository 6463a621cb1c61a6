package stunmsg

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

// CheckIntegrity reports whether m carries a 20-byte MESSAGE-INTEGRITY equal
// to HMAC-SHA1(key, message up to that attribute), computed with the header
// Length set to end right after the attribute (RFC 8489 §14.5). key is the
// short-term password or the long-term key (RFC 8489 §9.2.2, 16-byte MD5 key
// for legacy MD5 credentials); the caller prepares it. The comparison is
// constant-time; m.Raw is not modified. Allocates the HMAC state only.
func (m *Message) CheckIntegrity(key []byte) bool {
	return m.checkMAC(sha1.New, key, m.IntegrityAt, integritySize)
}

// CheckIntegritySHA256 is CheckIntegrity for MESSAGE-INTEGRITY-SHA256
// (RFC 8489 §14.6) with HMAC-SHA256. Only the full 32-byte MAC is accepted:
// TURN defines no truncation (rfc-notes S-62). key is the 32-byte SHA-256
// long-term key (RFC 8489 §9.2.2) or a short-term password.
func (m *Message) CheckIntegritySHA256(key []byte) bool {
	return m.checkMAC(sha256.New, key, m.IntegritySHA256At, integritySHA256Size)
}

func (m *Message) checkMAC(newHash func() hash.Hash, key []byte, at, size int) bool {
	if at < HeaderSize || size > len(m.Raw)-at-attrHeaderSize {
		return false
	}
	if int(binary.BigEndian.Uint16(m.Raw[at+2:at+4])) != size {
		return false
	}
	valueAt := at + attrHeaderSize
	var sum [sha256.Size]byte
	want := integrityMAC(sum[:0], newHash, key, m.Raw[:at], valueAt+size-HeaderSize)
	return hmac.Equal(want, m.Raw[valueAt:valueAt+size])
}

// integrityMAC appends to dst the HMAC of msg (a message up to, excluding,
// an integrity attribute) as if its header Length field were adjustedLength
// (RFC 8489 §14.5, §14.6). msg is not modified. len(msg) must be at least
// HeaderSize.
func integrityMAC(dst []byte, newHash func() hash.Hash, key, msg []byte, adjustedLength int) []byte {
	mac := hmac.New(newHash, key)
	var header [HeaderSize]byte
	copy(header[:], msg[:HeaderSize])
	binary.BigEndian.PutUint16(header[2:4], uint16(adjustedLength))
	mac.Write(header[:])
	mac.Write(msg[HeaderSize:])
	return mac.Sum(dst)
}
