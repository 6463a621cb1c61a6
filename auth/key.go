package auth

import "crypto/md5" //nolint:gosec // RFC 8489 §9.2.2 mandates MD5 for the legacy key.

// Key is the RFC 8489 §9.2.2 long-term MD5 key:
// MD5(username ":" realm ":" password). It is the HMAC-SHA1 key for
// MESSAGE-INTEGRITY (§14.5) and, when no PASSWORD-ALGORITHM was negotiated,
// also for MESSAGE-INTEGRITY-SHA256 (§14.6). RFC 8656 §6 asks servers to store
// keys rather than passwords; this package keeps only keys.
type Key [16]byte

// LongTermKey derives the RFC 8489 §9.2.2 MD5 key. The inputs are used as
// given (see the package comment on OpaqueString). It does not allocate unless
// the three inputs together exceed 1 KiB.
func LongTermKey(username, realm, password string) Key {
	return longTermKey(username, realm, password)
}

// longTermKey is LongTermKey for a password held in a string or in a
// caller's (stack) buffer, so the TURN REST path needs no string conversion.
func longTermKey[P string | []byte](username, realm string, password P) Key {
	var stack [1024]byte
	n := len(username) + 1 + len(realm) + 1 + len(password)
	buf := stack[:0]
	if n > len(stack) {
		buf = make([]byte, 0, n)
	}
	buf = append(buf, username...)
	buf = append(buf, ':')
	buf = append(buf, realm...)
	buf = append(buf, ':')
	buf = append(buf, password...)
	return Key(md5.Sum(buf)) //nolint:gosec // see import comment.
}

// MaxSecrets bounds how many TURN REST shared secrets may be active at once.
// Rotation needs two or three (new, current, retiring); the bound keeps the
// candidate set a fixed-size value so a lookup never allocates.
const MaxSecrets = 8

// Keys is the set of candidate keys for one username: one for a static user,
// one per configured secret for a TURN REST username (the client's password
// was minted with one of them and only MESSAGE-INTEGRITY tells which). It is a
// value type; the zero Keys is empty.
type Keys struct {
	n    int
	keys [MaxSecrets]Key
}

// OneKey returns a candidate set holding only k, for KeyFunc implementations
// with a single key per user.
func OneKey(k Key) Keys {
	var ks Keys
	ks.keys[0] = k
	ks.n = 1
	return ks
}

// Len reports how many candidate keys ks holds.
func (ks *Keys) Len() int { return ks.n }

// At returns the i-th candidate key, in the order of the configured secrets.
// It panics if i is out of range, like a slice index.
func (ks *Keys) At(i int) Key { return ks.keys[:ks.n][i] }

// add appends k; it reports false when the set is full.
func (ks *Keys) add(k Key) bool {
	if ks.n == len(ks.keys) {
		return false
	}
	ks.keys[ks.n] = k
	ks.n++
	return true
}
