package turnwire

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"strconv"
	"time"

	"github.com/pion/stun/v2"
)

// RESTCredentials returns a TURN REST API credential (draft-uberti-behave-
// turn-rest-00 §2.2): username "<expiry>:<user>" with expiry in UNIX seconds,
// and password base64(HMAC-SHA1(secret, username)). An empty user yields just
// "<expiry>".
func RESTCredentials(secret, user string, expiry time.Time) (username, password string) {
	username = strconv.FormatInt(expiry.Unix(), 10)
	if user != "" {
		username += ":" + user
	}
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Auth is the long-term credential state of one client (RFC 8489 §9.2): the
// username and password it was given and the realm and nonce the server
// handed out in its last 401 or 438. The realm is always learned from the
// server, never configured. An Auth is not safe for concurrent use.
type Auth struct {
	Username string
	Password string

	realm string
	nonce string
	key   stun.MessageIntegrity
}

// NewAuth returns the state for one username and password, with no realm
// learned yet.
func NewAuth(username, password string) *Auth {
	return &Auth{Username: username, Password: password}
}

// Ready reports whether a realm and nonce have been learned, so requests can
// carry MESSAGE-INTEGRITY.
func (a *Auth) Ready() bool { return a.realm != "" && a.nonce != "" }

// Realm returns the realm learned from the server ("" before the first 401).
func (a *Auth) Realm() string { return a.realm }

// Learn records the realm and nonce from a 401 or 438 response (RFC 8489
// §9.2.5). The key, MD5(username ":" realm ":" password) (RFC 8489 §9.2.2),
// is recomputed only when the realm changes.
func (a *Auth) Learn(realm, nonce string) {
	if realm != "" && realm != a.realm {
		a.realm = realm
		a.key = stun.NewLongTermIntegrity(a.Username, realm, a.Password)
	}
	if nonce != "" {
		a.nonce = nonce
	}
}

// Key returns the long-term key (nil before a realm is learned).
func (a *Auth) Key() stun.MessageIntegrity { return a.key }
