package stunmsg

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"sync"
)

// CheckIntegrity reports whether m carries a 20-byte MESSAGE-INTEGRITY equal
// to HMAC-SHA1(key, message up to that attribute), computed with the header
// Length set to end right after the attribute (RFC 8489 §14.5). key is the
// short-term password or the long-term key (RFC 8489 §9.2.2, 16-byte MD5 key
// for legacy MD5 credentials); the caller prepares it. The comparison is
// constant-time; m.Raw is not modified. It allocates nothing.
func (m *Message) CheckIntegrity(key []byte) bool {
	return m.checkMAC(&sha1MACs, key, m.IntegrityAt, integritySize)
}

// CheckIntegritySHA256 is CheckIntegrity for MESSAGE-INTEGRITY-SHA256
// (RFC 8489 §14.6) with HMAC-SHA256. Only the full 32-byte MAC is accepted:
// TURN defines no truncation (§14.6). key is the 32-byte SHA-256
// long-term key (RFC 8489 §9.2.2) or a short-term password.
func (m *Message) CheckIntegritySHA256(key []byte) bool {
	return m.checkMAC(&sha256MACs, key, m.IntegritySHA256At, integritySHA256Size)
}

func (m *Message) checkMAC(pool *sync.Pool, key []byte, at, size int) bool {
	if at < HeaderSize || size > len(m.Raw)-at-attrHeaderSize {
		return false
	}
	if int(binary.BigEndian.Uint16(m.Raw[at+2:at+4])) != size {
		return false
	}
	valueAt := at + attrHeaderSize
	var sum [sha256.Size]byte
	n := integrityMAC(sum[:], pool, key, m.Raw[:at], valueAt+size-HeaderSize)
	return n == size && hmac.Equal(sum[:n], m.Raw[valueAt:valueAt+size])
}
