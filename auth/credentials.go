package auth

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// maxRealmBytes: RFC 8489 §14.9 requires REALM to be fewer than 128
// characters; realms here are ASCII, so characters are bytes.
const maxRealmBytes = 127

// maxStaticUsernameBytes: RFC 8489 §14.3 requires a client to send a USERNAME
// of fewer than 509 bytes, so a longer configured name could never log in.
const maxStaticUsernameBytes = 508

// CredentialsConfig configures the default "authenticate" policy. All fields
// are copied by NewCredentials; the caller may reuse them afterwards.
type CredentialsConfig struct {
	// Realm is the server's REALM (RFC 8489 §9.2.4, §14.9; SHOULD be the
	// provider's domain name): 1 to 127 printable ASCII characters.
	Realm string
	// Secrets are the TURN REST shared secrets, at most MaxSecrets, none
	// empty. The first is the one credentials are minted with; all are
	// accepted, so a secret can be rotated in before and out after use.
	Secrets [][]byte
	// StaticUsers maps a user name to its password. Passwords are turned into
	// keys here and not kept. Names must be valid UTF-8 under 509 bytes and
	// must not look like a TURN REST username (leading digits before the
	// first colon), which would be ambiguous; passwords must be printable
	// ASCII (see the package comment on OpaqueString).
	StaticUsers map[string]string
	// MaxTTL rejects TURN REST usernames whose expiry lies more than MaxTTL
	// after now, in whole seconds; 0 means no limit (as coturn). A limit
	// stops a leaked long-lived credential from outliving a rotation.
	MaxTTL time.Duration
}

// Credentials looks up long-term keys for TURN REST usernames and static
// users. It is safe for concurrent use: lookups read an immutable snapshot
// through an atomic pointer and never lock; SetSecrets publishes a new one.
// Create it with NewCredentials; the zero Credentials refuses everyone.
type Credentials struct {
	realm     string
	maxTTLSec int64 // 0: no limit
	snap      atomic.Pointer[credentialSnapshot]
}

// credentialSnapshot is never modified after it is published.
type credentialSnapshot struct {
	secrets []hmacPads     // TURN REST secrets as HMAC pads, minting one first
	static  map[string]Key // static user name → key under the realm
}

// NewCredentials validates cfg and builds the lookup. At least one secret or
// one static user is required. Errors name the offending field and never
// contain a secret or password.
func NewCredentials(cfg CredentialsConfig) (*Credentials, error) {
	if err := checkRealm(cfg.Realm); err != nil {
		return nil, err
	}
	if cfg.MaxTTL < 0 || (cfg.MaxTTL > 0 && cfg.MaxTTL < time.Second) {
		return nil, fmt.Errorf("auth: CredentialsConfig.MaxTTL %v must be 0 (no limit) or at least 1s", cfg.MaxTTL)
	}
	if len(cfg.Secrets) == 0 && len(cfg.StaticUsers) == 0 {
		return nil, errors.New("auth: CredentialsConfig needs at least one of Secrets and StaticUsers")
	}
	snap := &credentialSnapshot{static: make(map[string]Key, len(cfg.StaticUsers))}
	if len(cfg.Secrets) > 0 {
		pads, err := secretPads(cfg.Secrets)
		if err != nil {
			return nil, err
		}
		snap.secrets = pads
	}
	for name, password := range cfg.StaticUsers {
		if err := checkStaticUser(name, password); err != nil {
			return nil, err
		}
		snap.static[name] = LongTermKey(name, cfg.Realm, password)
	}
	c := &Credentials{realm: cfg.Realm, maxTTLSec: int64(cfg.MaxTTL / time.Second)}
	c.snap.Store(snap)
	return c, nil
}

// Realm returns the configured realm.
func (c *Credentials) Realm() string { return c.realm }

// SetSecrets replaces the TURN REST secrets (first mints) for all lookups
// that start after it returns; lookups in flight finish with the old set. An
// empty list, an empty secret or more than MaxSecrets is rejected and the
// current set is kept. The secrets are copied into HMAC pads and not retained.
// Safe to call concurrently with Keys; concurrent SetSecrets calls leave one
// of the sets in place.
func (c *Credentials) SetSecrets(secrets [][]byte) error {
	if len(secrets) == 0 {
		return errors.New("auth: SetSecrets needs at least one secret")
	}
	pads, err := secretPads(secrets)
	if err != nil {
		return err
	}
	var static map[string]Key
	if old := c.snap.Load(); old != nil {
		static = old.static
	}
	c.snap.Store(&credentialSnapshot{secrets: pads, static: static})
	return nil
}

// Keys is the default authenticate hook (a KeyFunc). It returns the candidate
// keys for username under realm at wall-clock time now, and the user part
// that quotas and the gateway match on. The order of checks:
//
//  1. realm must equal the configured realm, else ErrWrongRealm;
//  2. with secrets configured, a TURN REST username (digits before the first
//     colon) yields one key per secret (rotation: MESSAGE-INTEGRITY decides
//     which one the client holds) unless its expiry is before now.Unix()
//     (ErrExpired; expiry == now is still valid, as in coturn), further than
//     MaxTTL ahead (ErrTooFarFuture), or unparsable (ErrMalformedUsername);
//     the user part is the text after the first colon, or the whole username
//     when that is empty;
//  3. otherwise an exact static user name yields its key, user part = name;
//  4. otherwise ErrUnknownUser.
//
// It does not allocate. Safe for concurrent use.
func (c *Credentials) Keys(username, realm string, now time.Time) (Keys, string, error) {
	if realm != c.realm || c.realm == "" { // "" only in the zero Credentials
		return Keys{}, "", ErrWrongRealm
	}
	snap := c.snap.Load()
	if len(snap.secrets) > 0 {
		expiry, user, shape := parseREST(username)
		switch shape {
		case restMalformed:
			return Keys{}, "", ErrMalformedUsername
		case restOK:
			nowSec := now.Unix()
			if expiry < nowSec {
				return Keys{}, "", ErrExpired
			}
			if c.maxTTLSec > 0 && expiry > nowSec && !within(expiry, nowSec, c.maxTTLSec) {
				return Keys{}, "", ErrTooFarFuture
			}
			var ks Keys
			for i := range snap.secrets {
				ks.add(restKey(&snap.secrets[i], username, c.realm))
			}
			return ks, user, nil
		}
	}
	if k, ok := snap.static[username]; ok {
		return OneKey(k), username, nil
	}
	return Keys{}, "", ErrUnknownUser
}

func checkRealm(realm string) error {
	if realm == "" || len(realm) > maxRealmBytes {
		return fmt.Errorf("auth: CredentialsConfig.Realm must be 1 to %d characters (RFC 8489 §14.9), got %d", maxRealmBytes, len(realm))
	}
	if !printableASCII(realm) {
		return errors.New("auth: CredentialsConfig.Realm must be printable ASCII")
	}
	return nil
}

func checkStaticUser(name, password string) error {
	if name == "" || len(name) > maxStaticUsernameBytes || !utf8.ValidString(name) {
		return fmt.Errorf("auth: CredentialsConfig.StaticUsers: name %q must be valid UTF-8 of 1 to %d bytes (RFC 8489 §14.3)", name, maxStaticUsernameBytes)
	}
	if _, _, shape := parseREST(name); shape != restNotREST {
		return fmt.Errorf("auth: CredentialsConfig.StaticUsers: name %q looks like a TURN REST username (digits before the first colon)", name)
	}
	if password == "" || !printableASCII(password) {
		return fmt.Errorf("auth: CredentialsConfig.StaticUsers: password of %q must be non-empty printable ASCII", name)
	}
	return nil
}

// secretPads validates a secret list and converts it to HMAC pads.
func secretPads(secrets [][]byte) ([]hmacPads, error) {
	if len(secrets) > MaxSecrets {
		return nil, fmt.Errorf("auth: %d secrets configured, at most %d are supported", len(secrets), MaxSecrets)
	}
	pads := make([]hmacPads, len(secrets))
	for i, s := range secrets {
		if len(s) == 0 {
			return nil, fmt.Errorf("auth: secret %d of %d is empty", i+1, len(secrets))
		}
		pads[i] = newHMACPads(s, sha1Digest)
	}
	return pads, nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
