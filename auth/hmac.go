package auth

import (
	"crypto/sha1" //nolint:gosec // TURN REST passwords are HMAC-SHA1 by definition.
	"crypto/sha256"
)

// This file holds an allocation-free HMAC (RFC 2104) for the two fixed uses
// in this package: HMAC-SHA1 of a TURN REST username and HMAC-SHA256 of a
// nonce's binding data. crypto/hmac allocates a hash state per call; here the
// padded keys are computed once and each MAC is two one-shot Sum calls over
// stack buffers. The tests check both against crypto/hmac.

// hmacBlockSize is B in RFC 2104: the block size of SHA-1 and SHA-256.
const hmacBlockSize = 64

// maxUsernameBytes bounds the USERNAME values this package hashes: RFC 8489
// §14.3 lets a parser accept up to 763 bytes (senders stay below 509).
const maxUsernameBytes = 763

// hmacPads holds K XOR ipad and K XOR opad for one key. It is immutable once
// built and safe for concurrent use.
type hmacPads struct {
	inner, outer [hmacBlockSize]byte
}

// newHMACPads prepares key for HMAC with a hash of block size 64. Keys longer
// than a block are first replaced by their digest (RFC 2104 §2); digest is the
// hash's one-shot Sum. The key bytes are not retained.
func newHMACPads(key []byte, digest func([]byte) []byte) hmacPads {
	if len(key) > hmacBlockSize {
		key = digest(key)
	}
	var p hmacPads
	copy(p.inner[:], key)
	copy(p.outer[:], key)
	for i := range p.inner {
		p.inner[i] ^= 0x36
		p.outer[i] ^= 0x5c
	}
	return p
}

func sha1Digest(b []byte) []byte {
	s := sha1.Sum(b) //nolint:gosec // see import comment.
	return s[:]
}

func sha256Digest(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// hmacSHA1 returns HMAC-SHA1(key, msg). msg must be at most maxUsernameBytes
// long; callers check that first, and a longer msg panics.
func (p *hmacPads) hmacSHA1(msg string) [sha1.Size]byte {
	var in [hmacBlockSize + maxUsernameBytes]byte
	copy(in[:], p.inner[:])
	n := hmacBlockSize + copy(in[hmacBlockSize:], msg)
	if n-hmacBlockSize != len(msg) {
		panic("auth: hmacSHA1 message longer than maxUsernameBytes")
	}
	innerSum := sha1.Sum(in[:n]) //nolint:gosec // see import comment.
	var out [hmacBlockSize + sha1.Size]byte
	copy(out[:], p.outer[:])
	copy(out[hmacBlockSize:], innerSum[:])
	return sha1.Sum(out[:]) //nolint:gosec // see import comment.
}

// nonceBindingLen is the length of the data a nonce MAC covers:
// expiry (8) ‖ client IP as 16 bytes ‖ client port (2).
const nonceBindingLen = 8 + 16 + 2

// hmacSHA256 returns HMAC-SHA256(key, msg) for a nonce binding.
func (p *hmacPads) hmacSHA256(msg *[nonceBindingLen]byte) [sha256.Size]byte {
	var in [hmacBlockSize + nonceBindingLen]byte
	copy(in[:], p.inner[:])
	copy(in[hmacBlockSize:], msg[:])
	innerSum := sha256.Sum256(in[:])
	var out [hmacBlockSize + sha256.Size]byte
	copy(out[:], p.outer[:])
	copy(out[hmacBlockSize:], innerSum[:])
	return sha256.Sum256(out[:])
}
