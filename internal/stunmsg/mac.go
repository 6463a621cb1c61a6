package stunmsg

import (
	"crypto/sha1" //nolint:gosec // RFC 8489 §14.5 fixes HMAC-SHA1 for MESSAGE-INTEGRITY.
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"sync"
)

// macBlockSize is the block size of SHA-1 and SHA-256.
const macBlockSize = 64

// macState computes HMAC (RFC 2104) with hash states that are reset and
// reused: crypto/hmac.New allocates fresh ones on every call, which made
// each request, forged ones included, cost allocations twice (check and
// answer). Every buffer an interface call sees lives here, so nothing
// escapes per call. States are pooled per hash function.
type macState struct {
	inner, outer hash.Hash
	key          [macBlockSize]byte // the key, hashed if longer, zero-padded
	pad          [macBlockSize]byte
	header       [HeaderSize]byte
	sum          [sha256.Size]byte
}

var (
	sha1MACs   = sync.Pool{New: func() any { return &macState{inner: sha1.New(), outer: sha1.New()} }}
	sha256MACs = sync.Pool{New: func() any { return &macState{inner: sha256.New(), outer: sha256.New()} }}
)

// integrityMAC writes into dst (which must hold the hash's size) the HMAC
// of msg (a message up to, excluding, an integrity attribute) as if its
// header Length field were adjustedLength (RFC 8489 §14.5, §14.6). msg is
// not modified. len(msg) must be at least HeaderSize. It returns the MAC's
// length.
func integrityMAC(dst []byte, pool *sync.Pool, key, msg []byte, adjustedLength int) int {
	s := pool.Get().(*macState)
	defer pool.Put(s)
	clear(s.key[:])
	if len(key) > macBlockSize {
		s.inner.Reset()
		s.inner.Write(key)
		s.inner.Sum(s.key[:0])
	} else {
		copy(s.key[:], key)
	}
	copy(s.header[:], msg[:HeaderSize])
	binary.BigEndian.PutUint16(s.header[2:4], uint16(adjustedLength))

	for i := range s.pad {
		s.pad[i] = s.key[i] ^ 0x36
	}
	s.inner.Reset()
	s.inner.Write(s.pad[:])
	s.inner.Write(s.header[:])
	s.inner.Write(msg[HeaderSize:])
	inner := s.inner.Sum(s.sum[:0])

	for i := range s.pad {
		s.pad[i] = s.key[i] ^ 0x5c
	}
	s.outer.Reset()
	s.outer.Write(s.pad[:])
	s.outer.Write(inner)
	mac := s.outer.Sum(s.sum[:0])
	return copy(dst, mac)
}
