package relay

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/turnstile-relay/turnstile/internal/turnclient/turnclienttest"

	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
	"github.com/turnstile-relay/turnstile/logging"
)

// syncBuffer is a bytes.Buffer safe for the relay's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAuthFailuresAreLoggedRateLimited: refused authentications are logged
// for forensics (RFC 8656 §21.3.2) — reason, client, the username as an
// escaped untrusted field — at most authLogLimit lines a second per reason,
// never with the password or key, and the challenge leg is not logged.
func TestAuthFailuresAreLoggedRateLimited(t *testing.T) {
	var out syncBuffer
	srv := newTestServer(t, func(c *Config) { c.Logger = logging.New(&out, logging.LevelInfo) })
	c := newRawClient(t, srv.udp, "udp4")
	c.username = "1\"}{\"forged\":1 " + c.username
	wrongPassword := "not-the-password"
	c.key = auth.LongTermKey(c.username, testRealm, wrongPassword)
	const attempts = 20
	for i := 0; i < attempts; i++ {
		r := c.request(stunmsg.Allocate, func(b *stunmsg.Builder) { b.AddRequestedTransport(stunmsg.ProtoUDP) })
		if code := errorCode(r); code != 401 {
			t.Fatalf("attempt %d: code %d, want 401", i, code)
		}
	}
	var lines []map[string]any
	turnclienttest.WaitUntil(t, "an authentication failure line", func() bool {
		lines = lines[:0]
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if l == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("not a JSON line: %q", l)
			}
			if m["message"] == "authentication failed" {
				lines = append(lines, m)
			}
		}
		return len(lines) > 0
	})
	if len(lines) == 0 || len(lines) > authLogLimit*2 {
		t.Fatalf("%d auth failure lines for %d failures, want 1..%d", len(lines), attempts, authLogLimit*2)
	}
	if lines[0]["username"] != c.username || lines[0]["client"] != c.addr().String() || lines[0]["severity"] != "WARN" {
		t.Errorf("line does not carry the failure: %v", lines[0])
	}
	if strings.Contains(out.String(), wrongPassword) {
		t.Error("the password reached the log")
	}
	if strings.Contains(out.String(), `"no_integrity"`) {
		t.Error("the normal 401 challenge was logged as a failure")
	}
}

// TestChallengeIsNotAnAuthFailure: the 401 to a request without
// credentials is the first leg every client goes through (RFC 8489 §9.2.4);
// it is counted as a challenge, and only a real failure (a wrong password)
// moves the failure counter, so an alert on failures stays quiet for
// healthy clients.
func TestChallengeIsNotAnAuthFailure(t *testing.T) {
	f := newFakeRelay(t)
	f.client.allocate()
	st := f.s.Stats()
	if st.Challenges != 1 {
		t.Errorf("Challenges = %d after one healthy Allocate, want 1", st.Challenges)
	}
	if len(st.AuthFailures) != 0 {
		t.Errorf("AuthFailures = %v after one healthy Allocate, want none", st.AuthFailures)
	}

	f.client.key = auth.LongTermKey(f.client.username, testRealm, "not-the-password")
	if code := errorCode(f.client.request(stunmsg.Refresh, nil)); code != 401 {
		t.Fatalf("Refresh with a wrong password: code %d, want 401", code)
	}
	st = f.s.Stats()
	if st.AuthFailures["bad_integrity"] != 1 || st.Challenges != 1 {
		t.Errorf("after a wrong password: AuthFailures %v, Challenges %d; want bad_integrity 1, Challenges 1", st.AuthFailures, st.Challenges)
	}
}

// TestLegacyChannelRefusalIsLogged: a ChannelBind refused for an RFC 5766
// channel number (0x5000–0x7FFF, reserved by RFC 8656 §12) writes a line
// naming TURNSTILE_LEGACY_CHANNELS, at most one per
// legacyChannelLogInterval with the suppressed count; other refused
// numbers write nothing.
func TestLegacyChannelRefusalIsLogged(t *testing.T) {
	var out syncBuffer
	f := newFakeRelay(t, func(c *Config) { c.Logger = logging.New(&out, logging.LevelInfo) })
	f.client.allocate()
	peer := f.peer.addr()
	hints := func() []map[string]any {
		var lines []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var m map[string]any
			if l == "" || json.Unmarshal([]byte(l), &m) != nil {
				continue
			}
			if msg, _ := m["message"].(string); strings.Contains(msg, "TURNSTILE_LEGACY_CHANNELS") {
				lines = append(lines, m)
			}
		}
		return lines
	}
	bind := func(ch uint16) {
		t.Helper()
		if code := errorCode(f.client.request(stunmsg.ChannelBind, channelBindReq(ch, peer))); code != 400 {
			t.Fatalf("ChannelBind %#04x: code %d, want 400", ch, code)
		}
	}

	bind(0x8000)
	if n := len(hints()); n != 0 {
		t.Fatalf("%d hint lines after refusing 0x8000, which no option accepts; want none", n)
	}
	bind(0x5000)
	bind(0x7FFF)
	lines := hints()
	if len(lines) != 1 {
		t.Fatalf("%d hint lines after two legacy refusals within the interval, want 1", len(lines))
	}
	if lines[0]["client"] != f.client.addr().String() || lines[0]["severity"] != "WARN" {
		t.Errorf("hint line does not name the client as a warning: %v", lines[0])
	}
	f.clock.Advance(legacyChannelLogInterval)
	bind(0x6000)
	lines = hints()
	if len(lines) != 2 || lines[1]["suppressed"] != float64(1) {
		t.Fatalf("after the interval: %d hint lines (%v), want 2 with the second suppressed 1", len(lines), lines)
	}
}
