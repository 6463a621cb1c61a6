package stunmsg

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"math/rand/v2"
	"sync"
	"testing"
)

// TestIntegrityMACMatchesCryptoHMAC checks the pooled HMAC against
// crypto/hmac for both hashes, keys from empty to longer than a block (RFC
// 2104 hashes those first) and messages of many lengths, reusing states
// across calls so a leftover from one call would show in the next.
func TestIntegrityMACMatchesCryptoHMAC(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	hashes := []struct {
		name string
		pool *sync.Pool
		new  func() hash.Hash
	}{
		{"SHA-1", &sha1MACs, sha1.New},
		{"SHA-256", &sha256MACs, sha256.New},
	}
	for _, h := range hashes {
		for _, keyLen := range []int{0, 1, 16, 20, 32, 63, 64, 65, 100, 200} {
			for range 20 {
				key := make([]byte, keyLen)
				msg := make([]byte, HeaderSize+rng.IntN(600))
				for i := range key {
					key[i] = byte(rng.Uint32())
				}
				for i := range msg {
					msg[i] = byte(rng.Uint32())
				}
				adjusted := rng.IntN(1 << 16)
				before := string(msg)
				var got [sha256.Size]byte
				n := integrityMAC(got[:], h.pool, key, msg, adjusted)
				if string(msg) != before {
					t.Fatal("integrityMAC modified the message")
				}

				ref := hmac.New(h.new, key)
				header := append([]byte(nil), msg[:HeaderSize]...)
				binary.BigEndian.PutUint16(header[2:4], uint16(adjusted))
				ref.Write(header)
				ref.Write(msg[HeaderSize:])
				want := ref.Sum(nil)
				if n != len(want) || string(got[:n]) != string(want) {
					t.Fatalf("%s key %d bytes, message %d bytes: MAC %x, want %x", h.name, keyLen, len(msg), got[:n], want)
				}
			}
		}
	}
}

// TestIntegrityAllocatesNothing: checking and adding MESSAGE-INTEGRITY and
// MESSAGE-INTEGRITY-SHA256 run on every authenticated request.
func TestIntegrityAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops states under the race detector; the plain test run checks allocations")
	}
	key := []byte("0123456789abcdef")
	key256 := make([]byte, 32)
	var b Builder
	buf := make([]byte, 0, 1024)
	build := func() []byte {
		b.Reset(buf, MessageType(Binding, Request), [12]byte{1, 2, 3})
		b.AddString(AttrSoftware, "turnstile")
		b.AddIntegrity(key)
		b.AddIntegritySHA256(key256)
		out, err := b.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	var m Message
	if err := m.Parse(build()); err != nil {
		t.Fatal(err)
	}
	if !m.CheckIntegrity(key) || !m.CheckIntegritySHA256(key256) {
		t.Fatal("a freshly built message fails its own integrity checks")
	}
	allocs := testing.AllocsPerRun(200, func() {
		build()
		if !m.CheckIntegrity(key) || !m.CheckIntegritySHA256(key256) {
			t.Fatal("integrity check failed")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per build and check", allocs)
	}
}
