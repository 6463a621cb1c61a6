package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // oracle for TURN REST passwords.
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v3"
)

// restVector is a TURN REST example (draft-uberti-behave-turn-rest-00 §2.2)
// whose password and key were computed outside this package.
var restVector = struct {
	secret, username, password, realm, key string
}{
	secret:   "north-star-secret",
	username: "1735689600:alice",
	password: "6AmlpAi3znmsNtZfJBPAOL2sUL0=",
	realm:    "example.org",
	key:      "1447cc7600cb650a7fc20b7a9b61103d",
}

func TestParseREST(t *testing.T) {
	tests := []struct {
		username   string
		wantExpiry int64
		wantUser   string
		wantShape  restShape
	}{
		{"1735689600:alice", 1735689600, "alice", restOK},
		{"1735689600", 1735689600, "1735689600", restOK},                           // ts only
		{"1735689600:", 1735689600, "1735689600:", restOK},                         // empty user part → whole name
		{"1735689600:alice:bob", 1735689600, "alice:bob", restOK},                  // several colons: after the first
		{"1735689600::", 1735689600, ":", restOK},                                  // user part is ":"
		{"0001735689600:alice", 1735689600, "alice", restOK},                       // leading zeros
		{"0", 0, "0", restOK},                                                      // epoch
		{"9223372036854775807:x", maxInt64, "x", restOK},                           // largest int64
		{"9223372036854775808:x", 0, "", restMalformed},                            // overflows int64
		{"99999999999999999999999999:x", 0, "", restMalformed},                     // huge
		{"1" + strings.Repeat("0", maxUsernameBytes) + ":x", 0, "", restMalformed}, // over-long
		{"-1735689600:alice", 0, "", restNotREST},                                  // negative
		{"+1735689600:alice", 0, "", restNotREST},
		{"17356a9600:alice", 0, "", restNotREST}, // non-numeric
		{"alice:1735689600", 0, "", restNotREST}, // coturn's user:ts order is not accepted
		{"alice", 0, "", restNotREST},
		{":1735689600", 0, "", restNotREST}, // empty timestamp
		{"", 0, "", restNotREST},
		{" 1735689600:alice", 0, "", restNotREST},
		{"١٧٣٥:alice", 0, "", restNotREST}, // non-ASCII digits
	}
	for _, tc := range tests {
		t.Run(tc.username, func(t *testing.T) {
			expiry, user, shape := parseREST(tc.username)
			if expiry != tc.wantExpiry || user != tc.wantUser || shape != tc.wantShape {
				t.Errorf("parseREST(%q) = %d, %q, %d; want %d, %q, %d",
					tc.username, expiry, user, shape, tc.wantExpiry, tc.wantUser, tc.wantShape)
			}
		})
	}
}

func TestRESTVector(t *testing.T) {
	v := restVector
	now := time.Unix(1735689600, 0)
	username, password := MintREST([]byte(v.secret), "alice", 0, now)
	if username != v.username || password != v.password {
		t.Fatalf("MintREST = %q, %q; want %q, %q", username, password, v.username, v.password)
	}
	pads := newHMACPads([]byte(v.secret), sha1Digest)
	if got := restKey(&pads, v.username, v.realm); got != hexKey(t, v.key) {
		t.Fatalf("restKey = %x, want %s", got, v.key)
	}
}

func TestMintREST(t *testing.T) {
	now := time.Unix(1_700_000_000, 999_000_000)
	tests := []struct {
		user         string
		ttl          time.Duration
		wantUsername string
	}{
		{"alice", 24 * time.Hour, "1700086400:alice"},
		{"", time.Hour, "1700003600"},                          // no user: plain timestamp
		{"a:b", time.Second, "1700000001:a:b"},                 // 1.999 s rounds down
		{"bob", -time.Hour, "1699996400:bob"},                  // already expired
		{"carol", 1500 * time.Millisecond, "1700000002:carol"}, // 2.499 s rounds down
	}
	for _, tc := range tests {
		username, password := MintREST([]byte("s3cret"), tc.user, tc.ttl, now)
		if username != tc.wantUsername {
			t.Errorf("MintREST(%q, %v) username = %q, want %q", tc.user, tc.ttl, username, tc.wantUsername)
		}
		pads := newHMACPads([]byte("s3cret"), sha1Digest)
		if got, want := restKey(&pads, username, "r"), LongTermKey(username, "r", password); got != want {
			t.Errorf("MintREST(%q) password does not match the verifier's key", tc.user)
		}
	}
}

// Differential check against pion/turn/v3, the library most clients use.
func TestRESTMatchesPion(t *testing.T) {
	for _, tc := range []struct{ secret, user, realm string }{
		{"north-star-secret", "alice", "example.org"},
		{"another secret with spaces", "bob:with:colons", "turn.example.net"},
		{strings.Repeat("long-secret-", 10), "carol", "r"},
	} {
		username, password, err := turn.GenerateLongTermTURNRESTCredentials(tc.secret, tc.user, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		stamp, _, _ := strings.Cut(username, ":")
		expiry, err := strconv.ParseInt(stamp, 10, 64)
		if err != nil {
			t.Fatalf("pion username %q: %v", username, err)
		}
		// Mint at the same expiry and compare with pion's credential.
		now := time.Unix(expiry, 0)
		ours, ourPassword := MintREST([]byte(tc.secret), tc.user, 0, now)
		if ours != username || ourPassword != password {
			t.Errorf("MintREST = %q/%q, pion = %q/%q", ours, ourPassword, username, password)
		}
		// The verifier's key equals pion's GenerateAuthKey and pion's own
		// REST auth handler.
		creds, err := NewCredentials(CredentialsConfig{Realm: tc.realm, Secrets: [][]byte{[]byte(tc.secret)}})
		if err != nil {
			t.Fatal(err)
		}
		keys, user, err := creds.Keys(username, tc.realm, now.Add(-time.Minute))
		if err != nil || keys.Len() != 1 || user != tc.user {
			t.Fatalf("Keys(%q) = %d keys, %q, %v", username, keys.Len(), user, err)
		}
		pionKey := turn.GenerateAuthKey(username, tc.realm, password)
		got := keys.At(0)
		if !bytes.Equal(got[:], pionKey) {
			t.Errorf("key %x, pion GenerateAuthKey %x", got, pionKey)
		}
		handlerKey, ok := turn.LongTermTURNRESTAuthHandler(tc.secret, nil)(username, tc.realm, nil)
		if !ok || !bytes.Equal(got[:], handlerKey) {
			t.Errorf("key %x, pion LongTermTURNRESTAuthHandler %x (ok %v)", got, handlerKey, ok)
		}
	}
}

// restPasswordOracle is the TURN REST password computed the obvious way.
func restPasswordOracle(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
