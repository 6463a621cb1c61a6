package auth

import (
	"net/netip"
	"testing"
	"time"
)

func BenchmarkNoncesCheck(b *testing.B) {
	n := mustNonces(b, 10*time.Minute)
	client := netip.MustParseAddrPort("[2001:db8::1]:50000")
	now := time.Unix(1_700_000_000, 0)
	nonce := []byte(n.Mint(client, now))
	b.ReportAllocs()
	for b.Loop() {
		if n.Check(nonce, client, now) != NonceValid {
			b.Fatal("nonce not valid")
		}
	}
}

func BenchmarkNoncesMint(b *testing.B) {
	n := mustNonces(b, 10*time.Minute)
	client := netip.MustParseAddrPort("192.0.2.1:50000")
	now := time.Unix(1_700_000_000, 0)
	b.ReportAllocs()
	for b.Loop() {
		n.Mint(client, now)
	}
}

func BenchmarkCredentialsKeys(b *testing.B) {
	v := restVector
	now := time.Unix(1735689600, 0)
	for _, bc := range []struct {
		name     string
		secrets  int
		username string
	}{
		{"rest/1-secret", 1, v.username},
		{"rest/2-secrets", 2, v.username},
		{"static", 1, "alice"},
		{"unknown", 1, "mallory"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			secrets := [][]byte{[]byte(v.secret), []byte("retiring"), []byte("older")}[:bc.secrets]
			creds := mustCredentials(b, CredentialsConfig{Realm: v.realm, Secrets: secrets, StaticUsers: map[string]string{"alice": "pw"}})
			b.ReportAllocs()
			for b.Loop() {
				creds.Keys(bc.username, v.realm, now)
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	v := restVector
	now := time.Unix(1735689600, 0)
	creds := mustCredentials(b, CredentialsConfig{Realm: v.realm, Secrets: [][]byte{[]byte(v.secret)}})
	nonces := mustNonces(b, 10*time.Minute)
	client := netip.MustParseAddrPort("192.0.2.1:50000")
	key := hexKey(b, v.key)
	check := func(k Key) bool { return k == key }
	lookup := KeyFunc(creds.Keys)
	req := Request{HasIntegrity: true, Username: []byte(v.username), Realm: []byte(v.realm), Nonce: []byte(nonces.Mint(client, now)), Client: client}
	b.ReportAllocs()
	for b.Loop() {
		if Verify(req, lookup, nonces, v.realm, check, now).Code != 0 {
			b.Fatal("not authenticated")
		}
	}
}
