package relay

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"

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
	waitUntil(t, "an authentication failure line", func() bool {
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
