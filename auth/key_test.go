package auth

import (
	"crypto/md5" //nolint:gosec // the oracle for the MD5 long-term key.
	"encoding/hex"
	"strings"
	"testing"
)

func hexKey(t testing.TB, s string) Key {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(Key{}) {
		t.Fatalf("bad hex key %q", s)
	}
	return Key(b)
}

// md5Hex is the naive oracle: MD5 of the already-joined key input.
func md5Hex(s string) string {
	sum := md5.Sum([]byte(s)) //nolint:gosec // see import comment.
	return hex.EncodeToString(sum[:])
}

func TestLongTermKey(t *testing.T) {
	long := strings.Repeat("x", 700)
	tests := []struct {
		name                      string
		username, realm, password string
		want                      string
	}{
		// RFC 8489 §9.2.2 example, also reproduced by pion's NewLongTermIntegrity.
		{"rfc8489 example", "user", "realm", "pass", "8493fbc53ba582fb4c044c456bdc40eb"},
		// TURN REST vector (draft-uberti-behave-turn-rest-00 §2.2), computed
		// outside this package.
		{"turn rest vector", "1735689600:alice", "example.org", "6AmlpAi3znmsNtZfJBPAOL2sUL0=", "1447cc7600cb650a7fc20b7a9b61103d"},
		// Inputs over the 1 KiB stack buffer take the heap path: same result.
		{"heap path", long, long, "pw", md5Hex(long + ":" + long + ":pw")},
		{"all empty", "", "", "", md5Hex("::")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := LongTermKey(tc.username, tc.realm, tc.password); got != hexKey(t, tc.want) {
				t.Errorf("LongTermKey = %x, want %s", got, tc.want)
			}
			if got := longTermKey(tc.username, tc.realm, []byte(tc.password)); got != hexKey(t, tc.want) {
				t.Errorf("longTermKey([]byte) = %x, want %s", got, tc.want)
			}
		})
	}
}

func TestLongTermKeyDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { LongTermKey("1735689600:alice", "example.org", "6AmlpAi3znmsNtZfJBPAOL2sUL0=") }); n != 0 {
		t.Fatalf("LongTermKey allocates %v times per call", n)
	}
}

func TestKeysSet(t *testing.T) {
	var ks Keys
	if ks.Len() != 0 {
		t.Fatalf("zero Keys has Len %d", ks.Len())
	}
	for i := 0; i < MaxSecrets; i++ {
		if !ks.add(Key{byte(i)}) {
			t.Fatalf("add %d refused before the set was full", i)
		}
	}
	if ks.add(Key{0xff}) {
		t.Fatal("add accepted a key beyond MaxSecrets")
	}
	for i := 0; i < ks.Len(); i++ {
		if ks.At(i) != (Key{byte(i)}) {
			t.Errorf("At(%d) = %x", i, ks.At(i))
		}
	}
	one := OneKey(Key{7})
	if one.Len() != 1 || one.At(0) != (Key{7}) {
		t.Fatalf("OneKey = %+v", one)
	}
	defer func() {
		if recover() == nil {
			t.Error("At beyond Len did not panic")
		}
	}()
	one.At(1)
}
