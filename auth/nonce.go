package auth

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// NonceCookie starts every nonce this package mints. RFC 8489 §9.2 requires a
// server implementing it to begin each NONCE with "obMatJos2" followed by the
// four-character base64 of the 24-bit STUN Security Features (§18.1). We offer
// neither password algorithms nor username anonymity, so the features are all
// zero: "AAAA". Because of that, RFC 8489 §9.2.4 step 3 (PASSWORD-ALGORITHMS
// bid-down checks, §9.2.1) never applies to our nonces.
const NonceCookie = "obMatJos2AAAA"

const (
	nonceMACLen = 16                      // truncated HMAC-SHA256: 128 bits
	nonceRawLen = 8 + nonceMACLen         // expiry ‖ MAC
	nonceB64Len = (nonceRawLen*8 + 5) / 6 // unpadded base64 of 24 bytes: 32

	// Compile-time checks: the base64 text has no spare bits, so every value
	// has exactly one encoding and any changed character changes the value.
	_ = uint(nonceB64Len*6 - nonceRawLen*8)
	_ = uint(nonceRawLen*8 - nonceB64Len*6)
)

// NonceLen is the length in characters of every nonce Mint returns (45);
// RFC 8489 §14.10 requires fewer than 128.
const NonceLen = len(NonceCookie) + nonceB64Len

const _ = uint(127 - NonceLen) // compile-time check of the RFC limit above

// MinNonceKeyBytes is the shortest nonce key NewNonces accepts (256 bits, the
// HMAC-SHA256 output size).
const MinNonceKeyBytes = 32

// MaxNonceLifetime: RFC 8656 §5 says a nonce SHOULD expire at least once an
// hour during an allocation.
const MaxNonceLifetime = time.Hour

// nonceEncoding is unpadded base64url (RFC 4648 §5): its alphabet is all
// qdtext, as RFC 8489 §14.10 requires of NONCE.
var nonceEncoding = base64.RawURLEncoding.Strict()

// NonceStatus is the verdict of Nonces.Check. The zero value is NonceInvalid.
type NonceStatus uint8

const (
	// NonceInvalid: not a nonce we minted for this client address — forged,
	// malformed, foreign cookie, or bound to another IP or port.
	NonceInvalid NonceStatus = iota
	// NonceStale: minted by us for this client, but expired (or, after the
	// wall clock was stepped back, expiring more than the lifetime ahead).
	NonceStale
	// NonceValid: minted by us for this client and not yet expired.
	NonceValid
)

// String returns "invalid", "stale" or "valid".
func (s NonceStatus) String() string {
	switch s {
	case NonceStale:
		return "stale"
	case NonceValid:
		return "valid"
	default:
		return "invalid"
	}
}

// Nonces mints and checks stateless nonces, bound to the client's address
// (RFC 8489 §9.2.4) and expiring within an hour at most (RFC 8656 §5):
//
//	NonceCookie ‖ base64url(expiry ‖ HMAC-SHA256(key, expiry ‖ IP ‖ port)[:16])
//
// expiry is a big-endian int64 of UNIX seconds; IP is the client address in
// 16-byte form after unmapping IPv4-mapped IPv6 (zones are ignored); port is
// big-endian. Binding to the client's transport address satisfies RFC 8489
// §9.2.4's rule that a nonce must not be reused for another IP and port, and
// nothing needs storing: a relay that keeps its key across restarts keeps its
// nonces valid. Nonces is immutable and safe for concurrent use. Create it
// with NewNonces: the zero Nonces has no key, so its Check rejects every nonce
// and its Mint panics rather than issue nonces under a known all-zero key.
type Nonces struct {
	pads     hmacPads
	lifetime time.Duration // ≥ 1s once built by NewNonces; 0 marks the zero value
}

// NewNonces builds a minter and checker from key — at least MinNonceKeyBytes
// of randomness (RFC 4086) supplied by the shell — and lifetime, from 1s to
// MaxNonceLifetime. The key is not retained (only its HMAC pads are).
func NewNonces(key []byte, lifetime time.Duration) (*Nonces, error) {
	if len(key) < MinNonceKeyBytes {
		return nil, fmt.Errorf("auth: nonce key has %d bytes, need at least %d", len(key), MinNonceKeyBytes)
	}
	if lifetime < time.Second || lifetime > MaxNonceLifetime {
		return nil, fmt.Errorf("auth: nonce lifetime %v must be between 1s and %v (RFC 8656 §5)", lifetime, MaxNonceLifetime)
	}
	return &Nonces{pads: newHMACPads(key, sha256Digest), lifetime: lifetime}, nil
}

// Lifetime returns the configured nonce lifetime.
func (n *Nonces) Lifetime() time.Duration { return n.lifetime }

// Mint returns a fresh nonce for client, valid until now+lifetime (rounded
// down to the second). The result is NonceLen characters of qdtext, fit for a
// NONCE attribute.
func (n *Nonces) Mint(client netip.AddrPort, now time.Time) string {
	if n.lifetime == 0 {
		panic("auth: Nonces.Mint on a Nonces not built by NewNonces")
	}
	var raw [nonceRawLen]byte
	expiry := now.Add(n.lifetime).Unix()
	mac := n.mac(expiry, client)
	binary.BigEndian.PutUint64(raw[:8], uint64(expiry))
	copy(raw[8:], mac[:nonceMACLen])
	out := make([]byte, NonceLen)
	copy(out, NonceCookie)
	nonceEncoding.Encode(out[len(NonceCookie):], raw[:])
	return string(out)
}

// Check reports whether nonce (a NONCE attribute value; not retained, not
// modified) is one Mint issued for client and whether it is still within its
// lifetime at now. The MAC is compared in constant time and checked before
// the expiry, so only authentic nonces can be NonceStale. It never allocates
// and never panics, whatever the input.
//
// What the relay answers (RFC 8489 §9.2.4): Verify already maps both
// NonceStale and NonceInvalid to 438 Stale Nonce with REALM and a fresh NONCE,
// since a nonce that is not valid is "no longer valid" for this client, and
// the client, whose MESSAGE-INTEGRITY was already verified, retries with the
// new nonce.
func (n *Nonces) Check(nonce []byte, client netip.AddrPort, now time.Time) NonceStatus {
	if n.lifetime == 0 || len(nonce) != NonceLen || string(nonce[:len(NonceCookie)]) != NonceCookie {
		return NonceInvalid
	}
	var raw [nonceRawLen]byte
	if got, err := nonceEncoding.Decode(raw[:], nonce[len(NonceCookie):]); err != nil || got != nonceRawLen {
		return NonceInvalid
	}
	expiry := int64(binary.BigEndian.Uint64(raw[:8]))
	want := n.mac(expiry, client)
	if subtle.ConstantTimeCompare(raw[8:], want[:nonceMACLen]) != 1 {
		return NonceInvalid
	}
	// The window is one second longer than the lifetime because Mint rounds
	// expiry down to the second while now keeps its fraction: without the
	// slack, a clock read a moment earlier in another goroutine would call a
	// nonce minted just after a second boundary stale.
	if !within(expiry, now.Unix(), int64(n.lifetime/time.Second)+1) {
		return NonceStale
	}
	return NonceValid
}

// within reports whether nowSec < expiry ≤ nowSec+span (span ≥ 0) without
// overflow for any int64 inputs: once expiry > nowSec, their true difference
// lies in (0, 2^64) and unsigned subtraction computes it exactly.
func within(expiry, nowSec, span int64) bool {
	return expiry > nowSec && uint64(expiry)-uint64(nowSec) <= uint64(span)
}

// mac computes the full HMAC-SHA256 over a nonce's binding data.
func (n *Nonces) mac(expiry int64, client netip.AddrPort) [32]byte {
	var msg [nonceBindingLen]byte
	binary.BigEndian.PutUint64(msg[:8], uint64(expiry))
	ip := client.Addr().Unmap().As16()
	copy(msg[8:24], ip[:])
	binary.BigEndian.PutUint16(msg[24:], client.Port())
	return n.pads.hmacSHA256(&msg)
}
