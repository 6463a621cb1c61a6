package auth

import (
	"net/netip"
	"time"
	"unicode/utf8"
)

// STUN error codes Verify can decide (RFC 8489 §14.8).
const (
	CodeBadRequest      = 400
	CodeUnauthenticated = 401
	CodeStaleNonce      = 438
)

// Request holds what Verify needs from a decoded STUN request. The byte
// slices alias the caller's message buffer; Verify only reads them during the
// call and retains nothing. Text attribute length limits (RFC 8489 §14.3,
// §14.9, §14.10) are the codec layer's job.
type Request struct {
	// HasIntegrity: MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256 present.
	// We offer no PASSWORD-ALGORITHMS, so with either attribute the key is the
	// MD5 long-term key (RFC 8489 §9.2.4 step 3 falls back to MD5); checkMAC
	// verifies whichever attribute the request carries.
	HasIntegrity bool
	// Username, Realm and Nonce are the attribute values, nil when the
	// attribute is absent (an empty attribute is a non-nil empty slice).
	Username, Realm, Nonce []byte
	// Client is the request's source transport address, which nonces are
	// bound to.
	Client netip.AddrPort
}

// KeyFunc is the authenticate hook: the candidate keys of username in realm
// at wall-clock time now, and the user part quotas and the gateway match on.
// Credentials.Keys is the default. Refusals should be (or wrap) one of the
// Err* values so they are counted under their Reason; any other error counts
// as ReasonRefused. Must be safe for concurrent use.
type KeyFunc func(username, realm string, now time.Time) (Keys, string, error)

// Decision is Verify's verdict.
type Decision struct {
	// Code is 0 when the request is authenticated, else the error code to
	// answer with: 400, 401 or 438.
	Code int
	// Reason says why, for counters and logs.
	Reason Reason
	// Key is the candidate key that verified the integrity attribute: the key
	// for the response's integrity. Set when Code is 0 or 438 (a 438 MAY
	// carry integrity, RFC 8489 §9.2.4).
	Key Key
	// Username is the request's USERNAME, for logs only: responses SHOULD NOT
	// echo it (RFC 8489 §9.2.4). Set whenever USERNAME, REALM and NONCE were
	// all present.
	Username string
	// User is the name quotas, policy and the gateway match on (KeyFunc's
	// user part). Set when Code is 0 or 438.
	User string
	// AttachNonce: the error response must carry our REALM and a fresh NONCE
	// from Nonces.Mint for the client (RFC 8489 §9.2.4). Always false for 400
	// and for success.
	AttachNonce bool
}

// Verify runs the RFC 8489 §9.2.4 long-term credential checks on one request,
// in the RFC's order:
//
//  1. no integrity attribute → 401, attach REALM and NONCE;
//  2. USERNAME, REALM or NONCE missing → 400, attach nothing; a USERNAME
//     that is not UTF-8 or is longer than the 763 bytes a receiver must
//     parse (RFC 8489 §14.3) is malformed, answered the same way (400 is
//     "the request was malformed", §14.8) before any key is looked up;
//  3. REALM not ours → 401 with our REALM and a fresh NONCE. §9.2.4 lists no
//     REALM comparison, but the key is derived from the realm, so a foreign
//     realm can never verify; we answer as for an invalid username,
//     which lets coturn and pion clients retry with the realm we send;
//  4. lookup refuses the username (unknown, expired, too far in the future,
//     malformed) → 401, attach REALM and NONCE;
//  5. no candidate key satisfies checkMAC → 401, attach REALM and NONCE;
//     candidates are tried in order, so rotated secrets all work;
//  6. nonce not valid for this client → 438, attach REALM and a new NONCE.
//     This comes after the MAC check, so only a client that holds the key
//     learns that its nonce is stale. Forged nonces and nonces bound
//     to another address are "no longer valid" too and get the same 438:
//     the client proved its key, and the fresh nonce lets it recover.
//
// Step 3 of §9.2.4 (PASSWORD-ALGORITHMS bid-down checks) does not arise: our
// nonce cookie offers no password algorithms, so every request is MD5.
//
// realm is ours. lookup, nonces and checkMAC must be non-nil; checkMAC
// verifies the request's integrity attribute with a key and must compare in
// constant time. Verify is pure apart from those calls and allocates only the
// Username string.
func Verify(req Request, lookup KeyFunc, nonces *Nonces, realm string, checkMAC func(Key) bool, now time.Time) Decision {
	if !req.HasIntegrity {
		return challenge(CodeUnauthenticated, ReasonNoIntegrity)
	}
	if req.Username == nil || req.Realm == nil || req.Nonce == nil {
		return Decision{Code: CodeBadRequest, Reason: ReasonMissingAttribute}
	}
	if len(req.Username) > maxUsernameBytes || !utf8.Valid(req.Username) {
		return Decision{Code: CodeBadRequest, Reason: ReasonInvalidUsername}
	}
	username := string(req.Username)
	if string(req.Realm) != realm {
		return challengeUser(CodeUnauthenticated, ReasonWrongRealm, username)
	}
	keys, user, err := lookup(username, realm, now)
	if err != nil {
		return challengeUser(CodeUnauthenticated, ReasonOf(err), username)
	}
	matched := -1
	for i := 0; i < keys.Len(); i++ {
		if checkMAC(keys.At(i)) {
			matched = i
			break
		}
	}
	if matched < 0 {
		return challengeUser(CodeUnauthenticated, ReasonBadIntegrity, username)
	}
	d := Decision{Key: keys.At(matched), Username: username, User: user}
	switch nonces.Check(req.Nonce, req.Client, now) {
	case NonceValid:
		d.Reason = ReasonOK
	case NonceStale:
		d.Code, d.Reason, d.AttachNonce = CodeStaleNonce, ReasonStaleNonce, true
	default:
		d.Code, d.Reason, d.AttachNonce = CodeStaleNonce, ReasonInvalidNonce, true
	}
	return d
}

func challenge(code int, reason Reason) Decision {
	return Decision{Code: code, Reason: reason, AttachNonce: true}
}

func challengeUser(code int, reason Reason, username string) Decision {
	d := challenge(code, reason)
	d.Username = username
	return d
}
