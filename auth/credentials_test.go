package auth

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

const testRealm = "example.org"

func mustCredentials(t testing.TB, cfg CredentialsConfig) *Credentials {
	t.Helper()
	c, err := NewCredentials(cfg)
	if err != nil {
		t.Fatalf("NewCredentials: %v", err)
	}
	return c
}

func TestNewCredentialsValidation(t *testing.T) {
	secret := [][]byte{[]byte("s")}
	tests := []struct {
		name    string
		cfg     CredentialsConfig
		wantErr string // substring; "" means success
	}{
		{"secret only", CredentialsConfig{Realm: testRealm, Secrets: secret}, ""},
		{"static only", CredentialsConfig{Realm: testRealm, StaticUsers: map[string]string{"alice": "pw"}}, ""},
		{"max ttl 1s", CredentialsConfig{Realm: testRealm, Secrets: secret, MaxTTL: time.Second}, ""},
		{"nothing to authenticate", CredentialsConfig{Realm: testRealm}, "at least one of Secrets and StaticUsers"},
		{"empty realm", CredentialsConfig{Secrets: secret}, "Realm"},
		{"long realm", CredentialsConfig{Realm: strings.Repeat("r", 128), Secrets: secret}, "Realm"},
		{"realm 127", CredentialsConfig{Realm: strings.Repeat("r", 127), Secrets: secret}, ""},
		{"non-ascii realm", CredentialsConfig{Realm: "exämple.org", Secrets: secret}, "printable ASCII"},
		{"control in realm", CredentialsConfig{Realm: "a\x00b", Secrets: secret}, "printable ASCII"},
		{"negative max ttl", CredentialsConfig{Realm: testRealm, Secrets: secret, MaxTTL: -time.Second}, "MaxTTL"},
		{"sub-second max ttl", CredentialsConfig{Realm: testRealm, Secrets: secret, MaxTTL: time.Millisecond}, "MaxTTL"},
		{"empty secret", CredentialsConfig{Realm: testRealm, Secrets: [][]byte{[]byte("a"), {}}}, "secret 2 of 2 is empty"},
		{"too many secrets", CredentialsConfig{Realm: testRealm, Secrets: make([][]byte, MaxSecrets+1)}, "at most"},
		{"empty user name", CredentialsConfig{Realm: testRealm, StaticUsers: map[string]string{"": "pw"}}, "name"},
		{"long user name", CredentialsConfig{Realm: testRealm, StaticUsers: map[string]string{strings.Repeat("u", 509): "pw"}}, "name"},
		{"invalid utf-8 name", CredentialsConfig{Realm: testRealm, StaticUsers: map[string]string{"\xff": "pw"}}, "name"},
		{"rest-shaped name", CredentialsConfig{Realm: testRealm, StaticUsers: map[string]string{"123:bob": "pw"}}, "TURN REST"},
		{"digits-only name", CredentialsConfig{Realm: testRealm, StaticUsers: map[string]string{"2024": "pw"}}, "TURN REST"},
		{"empty password", CredentialsConfig{Realm: testRealm, StaticUsers: map[string]string{"alice": ""}}, "password"},
		{"non-ascii password", CredentialsConfig{Realm: testRealm, StaticUsers: map[string]string{"alice": "pässword"}}, "password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCredentials(tc.cfg)
			if tc.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("NewCredentials = %v, %v; want success", c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("NewCredentials error = %v, want one containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "pässword") {
				t.Fatal("error leaks a password")
			}
		})
	}
}

// TestUserOfUsername pins the one rule for the user of an allocation, the
// name its quota counts and the gateway's resources match (Keys' user
// part): for a TURN REST username the text after the first colon, or the
// whole username when there is none; for a static user its name.
func TestUserOfUsername(t *testing.T) {
	creds := mustCredentials(t, CredentialsConfig{
		Realm:       "example.org",
		Secrets:     [][]byte{[]byte("secret")},
		StaticUsers: map[string]string{"alice": "wonderland", "bob:x": "pw"},
	})
	now := time.Unix(1735689600, 0)
	for username, want := range map[string]string{
		"1735689600:alice":     "alice",
		"1735689600:a:b":       "a:b",
		"1735689600::":         ":",
		"1735689600":           "1735689600",
		"1735689600:":          "1735689600:",
		"01735689600":          "01735689600",
		"99999999999999:carol": "carol",
		"alice":                "alice",
		"bob:x":                "bob:x",
	} {
		_, user, err := creds.Keys(username, "example.org", now)
		if err != nil || user != want {
			t.Errorf("Keys(%q) user = %q, %v; want %q", username, user, err, want)
		}
	}
}

func TestCredentialsKeys(t *testing.T) {
	v := restVector
	now := time.Unix(1735689600, 500_000_000) // half a second after the vector's expiry second
	oldSecret, newSecret := []byte("old-secret"), []byte(v.secret)
	creds := mustCredentials(t, CredentialsConfig{
		Realm:       v.realm,
		Secrets:     [][]byte{newSecret, oldSecret},
		StaticUsers: map[string]string{"alice": "wonderland", "bob:x": "pw"},
		MaxTTL:      48 * time.Hour,
	})
	rest := func(secret []byte, username string) Key {
		pads := newHMACPads(secret, sha1Digest)
		return restKey(&pads, username, v.realm)
	}
	far := "1735862400:alice"    // now + 48 h (to the second): at the MaxTTL limit
	tooFar := "1735862401:alice" // one second beyond
	tests := []struct {
		name     string
		username string
		realm    string
		now      time.Time
		wantKeys []Key
		wantUser string
		wantErr  error
	}{
		{"rest vector, expiry == now", v.username, v.realm, now, []Key{hexKey(t, v.key), rest(oldSecret, v.username)}, "alice", nil},
		{"rest one second late", v.username, v.realm, now.Add(time.Second), nil, "", ErrExpired},
		{"rest ts only", "1735689600", v.realm, now, []Key{rest(newSecret, "1735689600"), rest(oldSecret, "1735689600")}, "1735689600", nil},
		{"rest empty user", "1735689600:", v.realm, now, []Key{rest(newSecret, "1735689600:"), rest(oldSecret, "1735689600:")}, "1735689600:", nil},
		{"rest several colons", "1735689600:a:b", v.realm, now, []Key{rest(newSecret, "1735689600:a:b"), rest(oldSecret, "1735689600:a:b")}, "a:b", nil},
		{"rest leading zeros", "01735689600:alice", v.realm, now, []Key{rest(newSecret, "01735689600:alice"), rest(oldSecret, "01735689600:alice")}, "alice", nil},
		{"rest at max ttl", far, v.realm, now, []Key{rest(newSecret, far), rest(oldSecret, far)}, "alice", nil},
		{"rest beyond max ttl", tooFar, v.realm, now, nil, "", ErrTooFarFuture},
		{"rest huge", "99999999999999999999:alice", v.realm, now, nil, "", ErrMalformedUsername},
		{"rest int64 max", "9223372036854775807:alice", v.realm, now, nil, "", ErrTooFarFuture},
		{"rest epoch", "0:alice", v.realm, now, nil, "", ErrExpired},
		{"rest over-long", "1" + strings.Repeat("0", 800), v.realm, now, nil, "", ErrMalformedUsername},
		{"negative is not rest", "-1735689600:alice", v.realm, now, nil, "", ErrUnknownUser},
		{"non-numeric is not rest", "17356x9600:alice", v.realm, now, nil, "", ErrUnknownUser},
		{"static user", "alice", v.realm, now, []Key{LongTermKey("alice", v.realm, "wonderland")}, "alice", nil},
		{"static user with colon", "bob:x", v.realm, now, []Key{LongTermKey("bob:x", v.realm, "pw")}, "bob:x", nil},
		{"static name is exact", "Alice", v.realm, now, nil, "", ErrUnknownUser},
		{"unknown user", "mallory", v.realm, now, nil, "", ErrUnknownUser},
		{"empty username", "", v.realm, now, nil, "", ErrUnknownUser},
		{"wrong realm", v.username, "example.net", now, nil, "", ErrWrongRealm},
		{"realm is exact", "alice", "Example.org", now, nil, "", ErrWrongRealm},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, user, err := creds.Keys(tc.username, tc.realm, tc.now)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if user != tc.wantUser {
				t.Errorf("user = %q, want %q", user, tc.wantUser)
			}
			if keys.Len() != len(tc.wantKeys) {
				t.Fatalf("got %d keys, want %d", keys.Len(), len(tc.wantKeys))
			}
			for i, want := range tc.wantKeys {
				if keys.At(i) != want {
					t.Errorf("key %d = %x, want %x", i, keys.At(i), want)
				}
			}
		})
	}
}

func TestCredentialsNoMaxTTL(t *testing.T) {
	creds := mustCredentials(t, CredentialsConfig{Realm: testRealm, Secrets: [][]byte{[]byte("s")}})
	keys, _, err := creds.Keys("9223372036854775807:x", testRealm, time.Unix(0, 0))
	if err != nil || keys.Len() != 1 {
		t.Fatalf("no MaxTTL: Keys = %d, %v", keys.Len(), err)
	}
}

// Extreme clock values must not overflow the MaxTTL comparison.
func TestCredentialsExtremeNow(t *testing.T) {
	creds := mustCredentials(t, CredentialsConfig{Realm: testRealm, Secrets: [][]byte{[]byte("s")}, MaxTTL: time.Hour})
	for _, now := range []time.Time{{}, time.Unix(-1<<62, 0), time.Unix(1<<62, 0)} {
		_, _, err := creds.Keys("9223372036854775807:x", testRealm, now)
		if !errors.Is(err, ErrTooFarFuture) {
			t.Errorf("now %v: err = %v, want ErrTooFarFuture", now, err)
		}
	}
}

// With no secrets configured, REST-shaped names are unknown users (static
// names can never look like REST usernames).
func TestCredentialsStaticOnly(t *testing.T) {
	creds := mustCredentials(t, CredentialsConfig{Realm: testRealm, StaticUsers: map[string]string{"alice": "pw"}})
	if _, _, err := creds.Keys("9999999999:alice", testRealm, time.Unix(0, 0)); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("REST name without secrets: err = %v", err)
	}
	if err := creds.SetSecrets([][]byte{[]byte("s")}); err != nil {
		t.Fatal(err)
	}
	if keys, _, err := creds.Keys("9999999999:alice", testRealm, time.Unix(0, 0)); err != nil || keys.Len() != 1 {
		t.Fatalf("REST name after SetSecrets: %d keys, %v", keys.Len(), err)
	}
	if keys, _, err := creds.Keys("alice", testRealm, time.Unix(0, 0)); err != nil || keys.Len() != 1 {
		t.Fatalf("static user lost by SetSecrets: %d keys, %v", keys.Len(), err)
	}
}

func TestSetSecretsRotation(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	a, b, c := []byte("secret-a"), []byte("secret-b"), []byte("secret-c")
	creds := mustCredentials(t, CredentialsConfig{Realm: testRealm, Secrets: [][]byte{a}})
	userA, passA := MintREST(a, "u", time.Hour, now)
	userB, passB := MintREST(b, "u", time.Hour, now)
	accepts := func(username, password string) bool {
		keys, _, err := creds.Keys(username, testRealm, now)
		if err != nil {
			t.Fatal(err)
		}
		want := LongTermKey(username, testRealm, password)
		for i := 0; i < keys.Len(); i++ {
			if keys.At(i) == want {
				return true
			}
		}
		return false
	}
	steps := []struct {
		secrets      [][]byte
		wantA, wantB bool
	}{
		{[][]byte{a}, true, false},
		{[][]byte{b, a}, true, true}, // new secret mints, old still accepted
		{[][]byte{b}, false, true},   // old retired
		{[][]byte{c, b}, false, true},
	}
	for i, s := range steps {
		if err := creds.SetSecrets(s.secrets); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := accepts(userA, passA); got != s.wantA {
			t.Errorf("step %d: credential under a accepted = %v, want %v", i, got, s.wantA)
		}
		if got := accepts(userB, passB); got != s.wantB {
			t.Errorf("step %d: credential under b accepted = %v, want %v", i, got, s.wantB)
		}
	}
	// Rejected updates keep the current secrets.
	for _, bad := range [][][]byte{nil, {}, {{}}, {c, {}}, make([][]byte, MaxSecrets+1)} {
		if err := creds.SetSecrets(bad); err == nil {
			t.Errorf("SetSecrets(%d secrets) accepted", len(bad))
		}
	}
	if !accepts(userB, passB) {
		t.Error("a rejected SetSecrets changed the secrets")
	}
}

// The caller's secret buffers may be reused after SetSecrets.
func TestSetSecretsCopies(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	secret := []byte("secret")
	creds := mustCredentials(t, CredentialsConfig{Realm: testRealm, Secrets: [][]byte{secret}})
	username, password := MintREST([]byte("secret"), "", time.Hour, now)
	copy(secret, "XXXXXX")
	keys, _, err := creds.Keys(username, testRealm, now)
	if err != nil || keys.At(0) != LongTermKey(username, testRealm, password) {
		t.Fatal("Credentials kept a reference to the caller's secret")
	}
}

// Run with -race: lookups and rotations at once must be race-free and every
// lookup must see one whole secret set, never a mix.
func TestSetSecretsConcurrentWithKeys(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	sets := [][][]byte{{[]byte("one")}, {[]byte("two"), []byte("one")}, {[]byte("three"), []byte("two"), []byte("one")}}
	creds := mustCredentials(t, CredentialsConfig{Realm: testRealm, Secrets: sets[0], StaticUsers: map[string]string{"alice": "pw"}})
	username, password := MintREST([]byte("one"), "u", time.Hour, now)
	want := LongTermKey(username, testRealm, password)
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := creds.SetSecrets(sets[i%len(sets)]); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for i := range 2000 {
				keys, _, err := creds.Keys(username, testRealm, now)
				// "one" is the last secret of every set, so its key is last.
				if err != nil || keys.Len() < 1 || keys.At(keys.Len()-1) != want {
					t.Errorf("lookup %d saw an inconsistent secret set (%d keys, %v)", i, keys.Len(), err)
					return
				}
				if _, _, err := creds.Keys("alice", testRealm, now); err != nil {
					t.Errorf("static user lost during rotation: %v", err)
					return
				}
			}
		})
	}
	readers.Wait()
	close(stop)
	<-writerDone
}

func TestCredentialsKeysDoesNotAllocate(t *testing.T) {
	v := restVector
	creds := mustCredentials(t, CredentialsConfig{Realm: v.realm, Secrets: [][]byte{[]byte(v.secret), []byte("old")},
		StaticUsers: map[string]string{"alice": "pw"}})
	now := time.Unix(1735689600, 0)
	for _, username := range []string{v.username, "alice", "mallory", "0:expired"} {
		if n := testing.AllocsPerRun(100, func() { creds.Keys(username, v.realm, now) }); n != 0 {
			t.Errorf("Keys(%q) allocates %v times per call", username, n)
		}
	}
}

func TestCredentialsRealm(t *testing.T) {
	if got := mustCredentials(t, CredentialsConfig{Realm: testRealm, Secrets: [][]byte{[]byte("s")}}).Realm(); got != testRealm {
		t.Fatalf("Realm() = %q", got)
	}
}

// The zero Credentials refuses everyone instead of crashing.
func TestZeroCredentials(t *testing.T) {
	var c Credentials
	if _, _, err := c.Keys("alice", "", time.Unix(0, 0)); !errors.Is(err, ErrWrongRealm) {
		t.Fatalf("zero Credentials: err = %v", err)
	}
	if err := c.SetSecrets([][]byte{[]byte("s")}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Keys("9999999999:alice", "", time.Unix(0, 0)); !errors.Is(err, ErrWrongRealm) {
		t.Fatalf("zero Credentials after SetSecrets: err = %v", err)
	}
}
