package logging

import (
	"log/slog"
	"strconv"
	"unicode/utf8"
)

// MaxUntrustedBytes is the most bytes of a client-supplied string a log
// field carries. RFC 8489 lets a USERNAME reach 508 bytes (§14.3) and a
// REALM 763 (§14.9); nobody reads that much in a log line, and a client
// should not be able to fill the log with its text.
const MaxUntrustedBytes = 128

// Untrusted returns a log field for a string that came from the network
// (username, realm, SOFTWARE, nonce). JSON encoding escapes quotes, control
// characters and invalid UTF-8; Untrusted also caps the length at
// MaxUntrustedBytes, cutting on a UTF-8 boundary and appending
// "...[truncated, N bytes]" with the original length N. The cut is made
// lazily, only when the line is actually written.
func Untrusted(key, value string) slog.Attr {
	return slog.Any(key, untrusted(value))
}

// untrusted defers truncation to the handler (slog.LogValuer).
type untrusted string

func (u untrusted) LogValue() slog.Value { return slog.StringValue(capUntrusted(string(u))) }

// capUntrusted applies the MaxUntrustedBytes cap.
func capUntrusted(s string) string {
	if len(s) <= MaxUntrustedBytes {
		return s
	}
	cut := MaxUntrustedBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "...[truncated, " + strconv.Itoa(len(s)) + " bytes]"
}
