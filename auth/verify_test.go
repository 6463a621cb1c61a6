package auth

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// verifyFixture is a relay's view of one client: credentials with two
// secrets (rotation) and a static user, a nonce minter, and a client that
// signs with a chosen key.
type verifyFixture struct {
	creds  *Credentials
	nonces *Nonces
	now    time.Time
	client netip.AddrPort

	restUser, restPass   string // minted under the current secret
	oldUser, oldPass     string // minted under the retiring secret
	expiredUser          string
	tooFarUser           string
	validNonce           string
	staleNonce           string
	otherPortNonce       string
	lookups, macAttempts int
}

func newVerifyFixture(t *testing.T) *verifyFixture {
	t.Helper()
	now := time.Unix(1_735_689_600, 0)
	current, retiring := []byte("current-secret"), []byte("retiring-secret")
	f := &verifyFixture{
		creds: mustCredentials(t, CredentialsConfig{
			Realm:       testRealm,
			Secrets:     [][]byte{current, retiring},
			StaticUsers: map[string]string{"static": "pw"},
			MaxTTL:      24 * time.Hour,
		}),
		nonces: mustNonces(t, 10*time.Minute),
		now:    now,
		client: netip.MustParseAddrPort("198.51.100.7:5000"),
	}
	f.restUser, f.restPass = MintREST(current, "alice", time.Hour, now)
	f.oldUser, f.oldPass = MintREST(retiring, "bob", time.Hour, now)
	f.expiredUser, _ = MintREST(current, "carol", -time.Second, now)
	f.tooFarUser, _ = MintREST(current, "dave", 25*time.Hour, now)
	f.validNonce = f.nonces.Mint(f.client, now)
	f.staleNonce = f.nonces.Mint(f.client, now.Add(-11*time.Minute))
	f.otherPortNonce = f.nonces.Mint(netip.MustParseAddrPort("198.51.100.7:5001"), now)
	return f
}

// lookup counts calls to the credentials hook.
func (f *verifyFixture) lookup(username, realm string, now time.Time) (Keys, string, error) {
	f.lookups++
	return f.creds.Keys(username, realm, now)
}

// signedWith returns a checkMAC that accepts only key, as if the client had
// computed MESSAGE-INTEGRITY with it.
func (f *verifyFixture) signedWith(key Key) func(Key) bool {
	return func(k Key) bool {
		f.macAttempts++
		return k == key
	}
}

func TestVerify(t *testing.T) {
	f := newVerifyFixture(t)
	b := func(s string) []byte { return []byte(s) }
	restKey := LongTermKey(f.restUser, testRealm, f.restPass)
	oldKey := LongTermKey(f.oldUser, testRealm, f.oldPass)
	staticKey := LongTermKey("static", testRealm, "pw")
	wrongKey := LongTermKey(f.restUser, testRealm, "guessed")
	full := func(user string, nonce string) Request {
		return Request{HasIntegrity: true, Username: b(user), Realm: b(testRealm), Nonce: b(nonce), Client: f.client}
	}
	with := func(r Request, edit func(*Request)) Request { edit(&r); return r }
	tests := []struct {
		name        string
		req         Request
		signer      Key
		lookup      KeyFunc // nil: the fixture's credentials
		want        Decision
		wantLookups int
		wantMACs    int
	}{
		// RFC 8489 §9.2.4, first check: no integrity → 401 challenge, whatever else is present.
		{"no integrity, nothing else", Request{Client: f.client}, restKey, nil,
			Decision{Code: 401, Reason: ReasonNoIntegrity, AttachNonce: true}, 0, 0},
		{"no integrity, all attributes", with(full(f.restUser, f.validNonce), func(r *Request) { r.HasIntegrity = false }), restKey, nil,
			Decision{Code: 401, Reason: ReasonNoIntegrity, AttachNonce: true}, 0, 0},
		{"no integrity beats missing attributes", Request{Username: b("x")}, restKey, nil,
			Decision{Code: 401, Reason: ReasonNoIntegrity, AttachNonce: true}, 0, 0},
		// §9.2.4, second check: integrity without USERNAME, REALM or NONCE → 400, nothing attached.
		{"missing username", with(full(f.restUser, f.validNonce), func(r *Request) { r.Username = nil }), restKey, nil,
			Decision{Code: 400, Reason: ReasonMissingAttribute}, 0, 0},
		{"missing realm", with(full(f.restUser, f.validNonce), func(r *Request) { r.Realm = nil }), restKey, nil,
			Decision{Code: 400, Reason: ReasonMissingAttribute}, 0, 0},
		{"missing nonce", with(full(f.restUser, f.validNonce), func(r *Request) { r.Nonce = nil }), restKey, nil,
			Decision{Code: 400, Reason: ReasonMissingAttribute}, 0, 0},
		{"missing all three", Request{HasIntegrity: true, Client: f.client}, restKey, nil,
			Decision{Code: 400, Reason: ReasonMissingAttribute}, 0, 0},
		{"missing nonce beats unknown user", with(full("mallory", ""), func(r *Request) { r.Nonce = nil }), restKey, nil,
			Decision{Code: 400, Reason: ReasonMissingAttribute}, 0, 0},
		{"missing realm beats unknown user", with(full("mallory", f.validNonce), func(r *Request) { r.Realm = nil }), restKey, nil,
			Decision{Code: 400, Reason: ReasonMissingAttribute}, 0, 0},
		// RFC 8489 §14.3: a USERNAME that is not UTF-8 or exceeds 763 bytes is
		// malformed → 400 before the lookup, even with a key that would verify.
		{"username not UTF-8", full("1:\x80", f.validNonce), restKey, nil,
			Decision{Code: 400, Reason: ReasonInvalidUsername}, 0, 0},
		{"username a UTF-16 surrogate", full("\xed\xa0\x80", f.validNonce), restKey, nil,
			Decision{Code: 400, Reason: ReasonInvalidUsername}, 0, 0},
		{"username over 763 bytes", full(strings.Repeat("a", 764), f.validNonce), restKey, nil,
			Decision{Code: 400, Reason: ReasonInvalidUsername}, 0, 0},
		{"missing nonce beats invalid username", with(full("\x80", ""), func(r *Request) { r.Nonce = nil }), restKey, nil,
			Decision{Code: 400, Reason: ReasonMissingAttribute}, 0, 0},
		// Empty attributes are present, not missing.
		{"empty username is present", full("", f.validNonce), restKey, nil,
			Decision{Code: 401, Reason: ReasonUnknownUser, AttachNonce: true}, 1, 0},
		{"empty nonce is present", full(f.restUser, ""), restKey, nil,
			Decision{Code: 438, Reason: ReasonInvalidNonce, Key: restKey, Username: f.restUser, User: "alice", AttachNonce: true}, 1, 1},
		// REALM not ours → 401 with our realm, before the lookup.
		{"wrong realm", with(full(f.restUser, f.validNonce), func(r *Request) { r.Realm = b("example.net") }), restKey, nil,
			Decision{Code: 401, Reason: ReasonWrongRealm, Username: f.restUser, AttachNonce: true}, 0, 0},
		{"empty realm", with(full(f.restUser, f.validNonce), func(r *Request) { r.Realm = b("") }), restKey, nil,
			Decision{Code: 401, Reason: ReasonWrongRealm, Username: f.restUser, AttachNonce: true}, 0, 0},
		{"wrong realm beats stale nonce", with(full(f.restUser, f.staleNonce), func(r *Request) { r.Realm = b("EXAMPLE.ORG") }), restKey, nil,
			Decision{Code: 401, Reason: ReasonWrongRealm, Username: f.restUser, AttachNonce: true}, 0, 0},
		// §9.2.4: username not valid → 401, MAC never computed.
		{"unknown user", full("mallory", f.validNonce), restKey, nil,
			Decision{Code: 401, Reason: ReasonUnknownUser, Username: "mallory", AttachNonce: true}, 1, 0},
		{"expired rest user", full(f.expiredUser, f.validNonce), restKey, nil,
			Decision{Code: 401, Reason: ReasonExpired, Username: f.expiredUser, AttachNonce: true}, 1, 0},
		{"rest user too far ahead", full(f.tooFarUser, f.validNonce), restKey, nil,
			Decision{Code: 401, Reason: ReasonTooFarFuture, Username: f.tooFarUser, AttachNonce: true}, 1, 0},
		{"malformed rest user", full("99999999999999999999999:x", f.validNonce), restKey, nil,
			Decision{Code: 401, Reason: ReasonMalformedUsername, Username: "99999999999999999999999:x", AttachNonce: true}, 1, 0},
		{"unknown user beats stale nonce", full("mallory", f.staleNonce), restKey, nil,
			Decision{Code: 401, Reason: ReasonUnknownUser, Username: "mallory", AttachNonce: true}, 1, 0},
		// §9.2.4: integrity mismatch → 401 after every candidate was tried.
		{"bad integrity", full(f.restUser, f.validNonce), wrongKey, nil,
			Decision{Code: 401, Reason: ReasonBadIntegrity, Username: f.restUser, AttachNonce: true}, 1, 2},
		{"bad integrity beats stale nonce", full(f.restUser, f.staleNonce), wrongKey, nil,
			Decision{Code: 401, Reason: ReasonBadIntegrity, Username: f.restUser, AttachNonce: true}, 1, 2},
		{"bad integrity beats forged nonce", full(f.restUser, "forged"), wrongKey, nil,
			Decision{Code: 401, Reason: ReasonBadIntegrity, Username: f.restUser, AttachNonce: true}, 1, 2},
		{"static user, bad integrity", full("static", f.validNonce), wrongKey, nil,
			Decision{Code: 401, Reason: ReasonBadIntegrity, Username: "static", AttachNonce: true}, 1, 1},
		// §9.2.4, last check: nonce checked last → 438 with a fresh nonce.
		{"stale nonce", full(f.restUser, f.staleNonce), restKey, nil,
			Decision{Code: 438, Reason: ReasonStaleNonce, Key: restKey, Username: f.restUser, User: "alice", AttachNonce: true}, 1, 1},
		{"nonce for another port", full(f.restUser, f.otherPortNonce), restKey, nil,
			Decision{Code: 438, Reason: ReasonInvalidNonce, Key: restKey, Username: f.restUser, User: "alice", AttachNonce: true}, 1, 1},
		{"forged nonce", full(f.restUser, NonceCookie+"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), restKey, nil,
			Decision{Code: 438, Reason: ReasonInvalidNonce, Key: restKey, Username: f.restUser, User: "alice", AttachNonce: true}, 1, 1},
		// Success.
		{"rest user", full(f.restUser, f.validNonce), restKey, nil,
			Decision{Reason: ReasonOK, Key: restKey, Username: f.restUser, User: "alice"}, 1, 1},
		{"rest user under the retiring secret", full(f.oldUser, f.validNonce), oldKey, nil,
			Decision{Reason: ReasonOK, Key: oldKey, Username: f.oldUser, User: "bob"}, 1, 2},
		{"static user", full("static", f.validNonce), staticKey, nil,
			Decision{Reason: ReasonOK, Key: staticKey, Username: "static", User: "static"}, 1, 1},
		// Custom hooks.
		{"hook refuses with a plain error", full("x", f.validNonce), restKey,
			func(string, string, time.Time) (Keys, string, error) { return Keys{}, "", errors.New("banned") },
			Decision{Code: 401, Reason: ReasonRefused, Username: "x", AttachNonce: true}, 0, 0},
		{"hook wraps a typed refusal", full("x", f.validNonce), restKey,
			func(string, string, time.Time) (Keys, string, error) {
				return Keys{}, "", fmt.Errorf("directory: %w", ErrExpired)
			},
			Decision{Code: 401, Reason: ReasonExpired, Username: "x", AttachNonce: true}, 0, 0},
		{"hook returns no keys", full("x", f.validNonce), restKey,
			func(string, string, time.Time) (Keys, string, error) { return Keys{}, "x", nil },
			Decision{Code: 401, Reason: ReasonBadIntegrity, Username: "x", AttachNonce: true}, 0, 0},
		{"hook with one key", full("x", f.validNonce), staticKey,
			func(string, string, time.Time) (Keys, string, error) { return OneKey(staticKey), "tenant-x", nil },
			Decision{Reason: ReasonOK, Key: staticKey, Username: "x", User: "tenant-x"}, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.lookups, f.macAttempts = 0, 0
			lookup := tc.lookup
			if lookup == nil {
				lookup = f.lookup
			}
			got := Verify(tc.req, lookup, f.nonces, testRealm, f.signedWith(tc.signer), f.now)
			if got != tc.want {
				t.Errorf("Verify =\n  %+v\nwant\n  %+v", got, tc.want)
			}
			if f.lookups != tc.wantLookups || f.macAttempts != tc.wantMACs {
				t.Errorf("lookups %d, MAC attempts %d; want %d, %d", f.lookups, f.macAttempts, tc.wantLookups, tc.wantMACs)
			}
		})
	}
}

// Verify must pass the realm and time through to the hook unchanged.
func TestVerifyPassesRealmAndTime(t *testing.T) {
	f := newVerifyFixture(t)
	var gotUser, gotRealm string
	var gotNow time.Time
	hook := func(username, realm string, now time.Time) (Keys, string, error) {
		gotUser, gotRealm, gotNow = username, realm, now
		return OneKey(Key{1}), username, nil
	}
	req := Request{HasIntegrity: true, Username: []byte("u"), Realm: []byte(testRealm), Nonce: []byte(f.validNonce), Client: f.client}
	d := Verify(req, hook, f.nonces, testRealm, func(k Key) bool { return k == Key{1} }, f.now)
	if d.Code != 0 || gotUser != "u" || gotRealm != testRealm || !gotNow.Equal(f.now) {
		t.Fatalf("decision %+v; hook saw %q, %q, %v", d, gotUser, gotRealm, gotNow)
	}
}

// The decision must not alias the request's buffers, which the relay reuses.
func TestVerifyCopiesUsername(t *testing.T) {
	f := newVerifyFixture(t)
	username := []byte(f.restUser)
	req := Request{HasIntegrity: true, Username: username, Realm: []byte(testRealm), Nonce: []byte(f.validNonce), Client: f.client}
	d := Verify(req, f.creds.Keys, f.nonces, testRealm, f.signedWith(LongTermKey(f.restUser, testRealm, f.restPass)), f.now)
	copy(username, "XXXXXXXXXX")
	if d.Code != 0 || d.Username != f.restUser || d.User != "alice" {
		t.Fatalf("decision %+v changed with the request buffer", d)
	}
}

// Verify allocates only the Username string on the success path.
func TestVerifyAllocations(t *testing.T) {
	f := newVerifyFixture(t)
	key := LongTermKey(f.restUser, testRealm, f.restPass)
	lookup := KeyFunc(f.creds.Keys)
	check := func(k Key) bool { return k == key }
	req := Request{HasIntegrity: true, Username: []byte(f.restUser), Realm: []byte(testRealm), Nonce: []byte(f.validNonce), Client: f.client}
	if n := testing.AllocsPerRun(100, func() {
		if Verify(req, lookup, f.nonces, testRealm, check, f.now).Code != 0 {
			t.Fatal("not authenticated")
		}
	}); n > 1 {
		t.Fatalf("Verify allocates %v times per call, want at most 1", n)
	}
}
