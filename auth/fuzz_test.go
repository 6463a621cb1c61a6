package auth

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// FuzzKey feeds arbitrary usernames and realms to Credentials.Keys. It must
// never panic, and its answer must agree with the REST grammar: a key set
// only for valid static names or well-formed, unexpired REST names, each key
// equal to the naive derivation, and the user part taken from the text after
// the first colon.
func FuzzKey(f *testing.F) {
	secrets := [][]byte{[]byte(restVector.secret), []byte("old")}
	creds, err := NewCredentials(CredentialsConfig{
		Realm:       restVector.realm,
		Secrets:     secrets,
		StaticUsers: map[string]string{"alice": "pw"},
		MaxTTL:      48 * time.Hour,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(restVector.username, restVector.realm, int64(1735689600))
	f.Add("alice", restVector.realm, int64(0))
	f.Fuzz(func(t *testing.T, username, realm string, nowSec int64) {
		now := time.Unix(nowSec, 0)
		keys, user, err := creds.Keys(username, realm, now)
		if err != nil {
			if keys.Len() != 0 || user != "" {
				t.Fatalf("error %v with %d keys and user %q", err, keys.Len(), user)
			}
			if ReasonOf(err) == ReasonRefused {
				t.Fatalf("Credentials returned an untyped error %v", err)
			}
			return
		}
		if realm != restVector.realm {
			t.Fatalf("accepted realm %q", realm)
		}
		if username == "alice" {
			if keys.Len() != 1 || keys.At(0) != LongTermKey("alice", realm, "pw") || user != "alice" {
				t.Fatalf("static user: %d keys, user %q", keys.Len(), user)
			}
			return
		}
		stamp, rest, _ := strings.Cut(username, ":")
		if stamp == "" || strings.Trim(stamp, "0123456789") != "" {
			t.Fatalf("accepted non-REST username %q", username)
		}
		wantUser := rest
		if wantUser == "" {
			wantUser = username
		}
		if user != wantUser {
			t.Fatalf("user part %q, want %q", user, wantUser)
		}
		if keys.Len() != len(secrets) {
			t.Fatalf("%d keys for %d secrets", keys.Len(), len(secrets))
		}
		for i, s := range secrets {
			password := restPasswordOracle(s, username)
			if keys.At(i) != LongTermKey(username, realm, password) {
				t.Fatalf("key %d differs from the naive derivation", i)
			}
		}
	})
}

// FuzzNonceCheck feeds arbitrary bytes as a NONCE at arbitrary times. Check
// must never panic, must call only byte-for-byte Mint output authentic, and
// must call it Valid only inside its lifetime window.
func FuzzNonceCheck(f *testing.F) {
	n, err := NewNonces(testNonceKey, time.Minute)
	if err != nil {
		f.Fatal(err)
	}
	client := netip.MustParseAddrPort("192.0.2.1:3478")
	now := time.Unix(1_700_000_000, 0)
	f.Add([]byte(n.Mint(client, now)), int64(1_700_000_000))
	f.Add([]byte(NonceCookie), int64(0))
	f.Fuzz(func(t *testing.T, nonce []byte, nowSec int64) {
		at := time.Unix(nowSec, 0)
		status := n.Check(nonce, client, at)
		if status == NonceInvalid {
			return
		}
		// Authentic: re-minting at the encoded expiry must reproduce it.
		if len(nonce) != NonceLen {
			t.Fatalf("status %v for a nonce of length %d", status, len(nonce))
		}
		expiry := decodeNonceExpiry(t, nonce)
		if again := n.Mint(client, time.Unix(expiry, 0).Add(-time.Minute)); again != string(nonce) {
			t.Fatalf("status %v for %q, but Mint gives %q", status, nonce, again)
		}
		if status == NonceValid && (nowSec >= expiry || expiry-nowSec > 61) {
			t.Fatalf("valid at %d with expiry %d", nowSec, expiry)
		}
	})
}

// decodeNonceExpiry reads the expiry of a well-formed nonce.
func decodeNonceExpiry(t *testing.T, nonce []byte) int64 {
	t.Helper()
	var raw [nonceRawLen]byte
	if _, err := nonceEncoding.Decode(raw[:], nonce[len(NonceCookie):]); err != nil {
		t.Fatalf("authentic nonce %q does not decode: %v", nonce, err)
	}
	return int64(binary.BigEndian.Uint64(raw[:8]))
}
