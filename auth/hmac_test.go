package auth

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // oracle for the TURN REST HMAC-SHA1.
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// The hand-rolled HMACs must agree with crypto/hmac for keys shorter than,
// equal to and longer than the block, and for messages of every length up to
// the bound.
func TestHMACMatchesCryptoHMAC(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keyLens := []int{0, 1, 20, 32, 63, 64, 65, 128, 1000}
	for _, kl := range keyLens {
		key := make([]byte, kl)
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		p1 := newHMACPads(key, sha1Digest)
		p256 := newHMACPads(key, sha256Digest)
		for _, ml := range []int{0, 1, 16, 55, 56, 63, 64, 65, 119, 120, 500, maxUsernameBytes} {
			msg := make([]byte, ml)
			for i := range msg {
				msg[i] = byte(rng.Uint32())
			}
			want := hmac.New(sha1.New, key)
			want.Write(msg)
			if got := p1.hmacSHA1(string(msg)); !hmac.Equal(got[:], want.Sum(nil)) {
				t.Errorf("hmacSHA1 key len %d msg len %d differs from crypto/hmac", kl, ml)
			}
		}
		var binding [nonceBindingLen]byte
		for i := range binding {
			binding[i] = byte(rng.Uint32())
		}
		want := hmac.New(sha256.New, key)
		want.Write(binding[:])
		if got := p256.hmacSHA256(&binding); !hmac.Equal(got[:], want.Sum(nil)) {
			t.Errorf("hmacSHA256 key len %d differs from crypto/hmac", kl)
		}
	}
}

func TestHMACSHA1RejectsOverlongMessage(t *testing.T) {
	p := newHMACPads([]byte("k"), sha1Digest)
	defer func() {
		if recover() == nil {
			t.Error("hmacSHA1 accepted a message over maxUsernameBytes")
		}
	}()
	p.hmacSHA1(string(make([]byte, maxUsernameBytes+1)))
}
