package auth

import "errors"

// Reason names the outcome of an authentication decision. Its String form is
// a stable, lower-case identifier meant for metric labels and logs; it never
// contains user input.
type Reason uint8

// Reasons, in the order Verify can reach them.
const (
	// ReasonOK: the request is authenticated.
	ReasonOK Reason = iota
	// ReasonNoIntegrity: no MESSAGE-INTEGRITY(-SHA256); the normal first leg
	// of the RFC 8489 §9.2.4 challenge.
	ReasonNoIntegrity
	// ReasonMissingAttribute: integrity present but USERNAME, REALM or NONCE
	// absent (RFC 8489 §9.2.4, 400).
	ReasonMissingAttribute
	// ReasonInvalidUsername: USERNAME is not UTF-8 or longer than 763 bytes
	// (RFC 8489 §14.3); answered 400 before any key lookup.
	ReasonInvalidUsername
	// ReasonWrongRealm: REALM differs from the server's realm.
	ReasonWrongRealm
	// ReasonUnknownUser: no such static user and not a TURN REST username.
	ReasonUnknownUser
	// ReasonMalformedUsername: looks like a TURN REST username but its
	// timestamp cannot be parsed, or the username is over-long.
	ReasonMalformedUsername
	// ReasonExpired: TURN REST expiry is before now.
	ReasonExpired
	// ReasonTooFarFuture: TURN REST expiry lies further ahead than MaxTTL.
	ReasonTooFarFuture
	// ReasonRefused: a custom KeyFunc refused with an error that carries no
	// Reason.
	ReasonRefused
	// ReasonBadIntegrity: no candidate key verifies MESSAGE-INTEGRITY.
	ReasonBadIntegrity
	// ReasonStaleNonce: authentic nonce for this client, but expired.
	ReasonStaleNonce
	// ReasonInvalidNonce: nonce forged, malformed, or minted for another
	// client address.
	ReasonInvalidNonce

	reasonCount // number of reasons; keep last.
)

var reasonNames = [reasonCount]string{
	ReasonOK:                "ok",
	ReasonNoIntegrity:       "no_integrity",
	ReasonMissingAttribute:  "missing_attribute",
	ReasonInvalidUsername:   "invalid_username",
	ReasonWrongRealm:        "wrong_realm",
	ReasonUnknownUser:       "unknown_user",
	ReasonMalformedUsername: "malformed_username",
	ReasonExpired:           "expired",
	ReasonTooFarFuture:      "too_far_future",
	ReasonRefused:           "refused",
	ReasonBadIntegrity:      "bad_integrity",
	ReasonStaleNonce:        "stale_nonce",
	ReasonInvalidNonce:      "invalid_nonce",
}

// String returns the metric-label form of r ("unknown" for values outside the
// defined set).
func (r Reason) String() string {
	if r >= reasonCount {
		return "unknown"
	}
	return reasonNames[r]
}

// Reasons returns every defined Reason, so a metrics shell can pre-create one
// counter per label value. The slice is freshly allocated and owned by the
// caller.
func Reasons() []Reason {
	all := make([]Reason, reasonCount)
	for i := range all {
		all[i] = Reason(i)
	}
	return all
}

// CredentialError is a refusal by a key lookup, with the Reason to count it
// under. The Err* values below are the only instances this package returns;
// compare with errors.Is. Custom KeyFunc implementations may return them too
// (wrapped or not) to get the matching Reason.
type CredentialError struct {
	Reason Reason
}

// Error describes the refusal without any user input, so it is safe to log.
func (e *CredentialError) Error() string { return "auth: " + e.Reason.String() }

// Refusals returned by Credentials.Keys.
var (
	ErrUnknownUser       error = &CredentialError{ReasonUnknownUser}
	ErrMalformedUsername error = &CredentialError{ReasonMalformedUsername}
	ErrExpired           error = &CredentialError{ReasonExpired}
	ErrTooFarFuture      error = &CredentialError{ReasonTooFarFuture}
	ErrWrongRealm        error = &CredentialError{ReasonWrongRealm}
)

// ReasonOf maps a lookup error to its Reason: nil is ReasonOK, a
// *CredentialError anywhere in the chain gives its Reason, and any other error
// is ReasonRefused.
func ReasonOf(err error) Reason {
	if err == nil {
		return ReasonOK
	}
	var ce *CredentialError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return ReasonRefused
}
