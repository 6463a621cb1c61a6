package logging

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCapUntrusted(t *testing.T) {
	long := strings.Repeat("a", 200)
	// 127 ASCII bytes then a 3-byte rune across the 128-byte boundary.
	straddle := strings.Repeat("b", 127) + "€" + strings.Repeat("c", 10)
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"short", "alice", "alice"},
		{"exactly the cap", strings.Repeat("x", MaxUntrustedBytes), strings.Repeat("x", MaxUntrustedBytes)},
		{"one over", strings.Repeat("x", MaxUntrustedBytes+1), strings.Repeat("x", MaxUntrustedBytes) + "...[truncated, 129 bytes]"},
		{"long", long, long[:MaxUntrustedBytes] + "...[truncated, 200 bytes]"},
		{"rune on the boundary", straddle, strings.Repeat("b", 127) + "...[truncated, 140 bytes]"},
	} {
		got := capUntrusted(tc.in)
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
		if utf8.ValidString(tc.in) && !utf8.ValidString(got) {
			t.Errorf("%s: cut produced invalid UTF-8 %q", tc.name, got)
		}
	}
}

func TestUntrustedFieldIsEscapedAndCapped(t *testing.T) {
	hostile := "bob\"}\n{\"severity\":\"ERROR\",\"message\":\"forged\x1b[31m\xff" + strings.Repeat("z", 300)
	var buf bytes.Buffer
	New(&buf, LevelInfo).Info("auth failed", Untrusted("username", hostile), Untrusted("realm", "example.org"))
	if n := strings.Count(buf.String(), "\n"); n != 1 {
		t.Fatalf("%d lines written, want 1:\n%s", n, buf.String())
	}
	lines := parseLines(t, buf.String())
	checkEnvelope(t, lines[0], "username", "realm")
	got, _ := lines[0].fields["username"].(string)
	if !strings.HasPrefix(got, "bob\"}\n{\"severity\"") || !strings.HasSuffix(got, fmt.Sprintf("...[truncated, %d bytes]", len(hostile))) {
		t.Errorf("username field %q", got)
	}
	if lines[0].fields["severity"] != "INFO" || lines[0].fields["realm"] != "example.org" {
		t.Errorf("fields %v", lines[0].fields)
	}
}
