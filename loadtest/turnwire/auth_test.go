package turnwire

import (
	"encoding/hex"
	"testing"
	"time"
)

func TestRESTCredentials(t *testing.T) {
	tests := []struct {
		name, secret, user string
		expiry             int64
		wantUser, wantPass string
	}{
		// TURN REST vector computed outside this package (the same one auth's
		// tests use).
		{"with user", "north-star-secret", "alice", 1735689600, "1735689600:alice", "6AmlpAi3znmsNtZfJBPAOL2sUL0="},
		{"no user", "north-star-secret", "", 1735689600, "1735689600", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, p := RESTCredentials(tc.secret, tc.user, time.Unix(tc.expiry, 0))
			if u != tc.wantUser {
				t.Fatalf("username %q, want %q", u, tc.wantUser)
			}
			if tc.wantPass != "" && p != tc.wantPass {
				t.Fatalf("password %q, want %q", p, tc.wantPass)
			}
			if len(p) != 28 {
				t.Fatalf("password %q is not 28 base64 characters", p)
			}
		})
	}
}

func TestAuthLearnKey(t *testing.T) {
	a := NewAuth("user", "pass")
	if a.Ready() {
		t.Fatal("ready before any 401")
	}
	a.Learn("realm", "n1")
	if !a.Ready() || a.Realm() != "realm" {
		t.Fatalf("after Learn: ready=%v realm=%q", a.Ready(), a.Realm())
	}
	// RFC 8489 §9.2.2 example: MD5("user:realm:pass").
	if got := hex.EncodeToString(a.Key()); got != "8493fbc53ba582fb4c044c456bdc40eb" {
		t.Fatalf("key %s", got)
	}
	a.Learn("", "n2")
	if a.nonce != "n2" || a.Realm() != "realm" {
		t.Fatalf("nonce update: nonce=%q realm=%q", a.nonce, a.Realm())
	}
}
