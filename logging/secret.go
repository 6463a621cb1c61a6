package logging

import (
	"fmt"
	"io"
	"log/slog"
)

// redacted is what a Secret prints as, wherever it is printed.
const redacted = "[redacted]"

// Secret holds a secret (a shared TURN REST secret, a password, a key) so
// that it cannot leak into logs or dumps by accident: fmt with any verb,
// slog, encoding/json (as a value or as a map key) and text encoders all see
// "[redacted]". Use Expose where the secret itself is needed, which keeps
// every use greppable.
//
// The text sits behind a pointer on purpose: when fmt prints a struct by
// reflection it cannot call methods of unexported fields, but it never
// follows pointers below the top level, so even a Secret in an unexported
// field prints as an address, not as its text.
//
// The zero Secret is the empty secret. Secrets are immutable and safe to
// copy and to share between goroutines; == compares identity, not text.
type Secret struct{ text *string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{text: &s} }

// Expose returns the secret itself. Never log the result.
func (s Secret) Expose() string {
	if s.text == nil {
		return ""
	}
	return *s.text
}

// Len returns the length of the secret in bytes.
func (s Secret) Len() int { return len(s.Expose()) }

// String returns "[redacted]".
func (Secret) String() string { return redacted }

// GoString returns "[redacted]", for %#v.
func (Secret) GoString() string { return redacted }

// Format writes "[redacted]" for every verb, so no fmt verb (%x, %q, %d, …)
// can reach the text.
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue returns "[redacted]" for slog.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON returns the JSON string "[redacted]".
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText returns "[redacted]", for text encoders and JSON map keys.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
