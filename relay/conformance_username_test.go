package relay

import (
	"strings"
	"testing"

	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// TestConformanceAuthUsernameNotUTF8: a USERNAME that is not UTF-8, or is
// longer than the 763 bytes a receiver must parse, is refused with 400 before
// any key is tried (RFC 8489 §14.3, §14.8), even when the MESSAGE-INTEGRITY
// is correct for it: TURN REST credentials accept any bytes after the colon,
// so these names have valid passwords. No allocation is created and the
// refusal is counted as invalid_username. A valid non-ASCII name allocates.
func TestConformanceAuthUsernameNotUTF8(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	cases := []struct {
		name, user string
		code       int
	}{
		{"lone continuation byte", "\x80", 400},
		{"truncated two-byte sequence", "caf\xc3", 400},
		{"UTF-16 surrogate", "\xed\xa0\x80", 400},
		{"over 763 bytes", strings.Repeat("u", 760), 400},
		{"valid non-ASCII", "café", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newRawClient(t, srv.udp, "udp4")
			nonce := requireChallenge(t, c.roundTrip(c.build(stunmsg.Allocate, stunmsg.Request, newTxID(), false, nil)), 401)
			username, password := restCredentials(tc.user)
			key := auth.LongTermKey(username, testRealm, password)
			before := srv.Stats().AuthFailures["invalid_username"]
			m := c.roundTrip(c.build(stunmsg.Allocate, stunmsg.Request, newTxID(), false, func(b *stunmsg.Builder) {
				b.AddRequestedTransport(stunmsg.ProtoUDP)
				b.Add(stunmsg.AttrUsername, []byte(username))
				b.Add(stunmsg.AttrRealm, []byte(testRealm))
				b.Add(stunmsg.AttrNonce, nonce)
				b.AddIntegrity(key[:])
			}))
			requireCode(t, m, tc.code)
			if tc.code == 0 {
				return
			}
			if m.IntegrityAt >= 0 {
				t.Error("the 400 carries MESSAGE-INTEGRITY; the key was never established")
			}
			if n := srv.ActiveAllocations(); n != 0 {
				t.Fatalf("%d allocations after a refused USERNAME", n)
			}
			if got := srv.Stats().AuthFailures["invalid_username"] - before; got != 1 {
				t.Errorf("invalid_username grew by %d, want 1", got)
			}
		})
	}
}
