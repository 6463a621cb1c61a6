package auth

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // TURN REST passwords are HMAC-SHA1 by definition.
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// This file implements the TURN REST API credential format
// (draft-uberti-behave-turn-rest-00 §2.2; docs/protocol.md):
//
//	username = <expiry> [":" <user>]   expiry: UNIX seconds, ASCII digits
//	password = base64std(HMAC-SHA1(shared secret, username))
//
// The key is then the ordinary RFC 8489 §9.2.2 long-term key of that username
// and password. coturn also accepts "<user>:<expiry>"; this package does not,
// so a username is a REST username exactly when the text before its first
// colon (or the whole name, without a colon) is a non-empty run of ASCII
// digits.

// restPasswordLen is the length of base64std of a 20-byte HMAC-SHA1.
const restPasswordLen = 28

// restShape classifies a username for the REST parser.
type restShape uint8

const (
	restNotREST   restShape = iota // no leading digit run: maybe a static user
	restOK                         // parsed
	restMalformed                  // digits overflow int64, or name over-long
)

// parseREST splits a TURN REST username. expiry is in UNIX seconds. user is
// the text after the first colon, or the whole username when that text is
// empty or there is no colon. It is the one rule for the user of a REST
// username: the allocation's quota key and the name the gateway's resources
// match both come from it (through Keys). A credential without a user part
// is a user of its own rather than one of a shared anonymous user, so one
// client cannot use up a quota for every client without a user part (RFC
// 8656 §5 keys quotas by username). Leading zeros are accepted: the
// password covers the exact string, so they cannot be used to forge
// anything.
func parseREST(username string) (expiry int64, user string, shape restShape) {
	stamp, rest, hasColon := strings.Cut(username, ":")
	if stamp == "" {
		return 0, "", restNotREST
	}
	for i := 0; i < len(stamp); i++ {
		if stamp[i] < '0' || stamp[i] > '9' {
			return 0, "", restNotREST
		}
	}
	if len(username) > maxUsernameBytes {
		return 0, "", restMalformed
	}
	for i := 0; i < len(stamp); i++ {
		d := int64(stamp[i] - '0')
		if expiry > (maxInt64-d)/10 {
			return 0, "", restMalformed
		}
		expiry = expiry*10 + d
	}
	user = username
	if hasColon && rest != "" {
		user = rest
	}
	return expiry, user, restOK
}

const maxInt64 = int64(^uint64(0) >> 1)

// restKey derives the long-term key of a REST username under one secret,
// without allocating. username must be at most maxUsernameBytes long.
func restKey(pads *hmacPads, username, realm string) Key {
	mac := pads.hmacSHA1(username)
	var password [restPasswordLen]byte
	base64.StdEncoding.Encode(password[:], mac[:])
	return longTermKey(username, realm, password[:])
}

// MintREST issues a TURN REST credential that expires ttl after now (rounded
// down to the second): username "<expiry>:<user>", or "<expiry>" when user is
// empty, and its password under secret. It is what the `turnstile creds`
// subcommand and a credential web service hand to clients; the relay only
// verifies. secret must be the relay's first (minting) secret and non-empty;
// a ttl ≤ 0 yields a credential that is already expired. The secret is not
// retained.
func MintREST(secret []byte, user string, ttl time.Duration, now time.Time) (username, password string) {
	username = strconv.FormatInt(now.Add(ttl).Unix(), 10)
	if user != "" {
		username += ":" + user
	}
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username)) // hash.Hash.Write never returns an error.
	return username, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
