package gateway

import (
	"errors"
	"fmt"
	"strings"
)

// Domain names are compared in one normalized form: lower case (DNS names
// compare case-insensitively, RFC 4343 §3), without the trailing root dot.
// Labels follow the preferred name syntax (RFC 1035 §2.3.1) as relaxed by
// RFC 1123 §2.1 (a label may start with a digit), plus "_" for service labels
// (RFC 2782): 1–63 characters of letters, digits, "-" and "_", not starting
// or ending with "-". A whole name is at most 253 characters (255 octets on
// the wire, RFC 1035 §3.1).
//
// A resource pattern "*.D" is a wildcard: it matches every name with at least
// one label in front of D (a.D, a.b.D), not D itself — the reach of a DNS
// wildcard (RFC 4592 §2.1.1). "*" is only allowed as the whole first label.

// maxNameLen is the longest normalized name: 255 wire octets minus the length
// octets and the root label (RFC 1035 §3.1, §2.3.4).
const maxNameLen = 253

// normalizeName validates s as a host name and returns its normalized form.
// wildcard allows a leading "*." label (resource patterns, not queries).
func normalizeName(s string, wildcard bool) (string, error) {
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return "", errors.New("empty name")
	}
	if len(s) > maxNameLen {
		return "", fmt.Errorf("name longer than %d characters", maxNameLen)
	}
	rest := s
	if wildcard && strings.HasPrefix(s, "*.") {
		rest = s[2:]
	}
	for label := range strings.SplitSeq(rest, ".") {
		if err := checkLabel(label); err != nil {
			return "", fmt.Errorf("label %q: %w", label, err)
		}
	}
	return strings.ToLower(s), nil
}

func checkLabel(l string) error {
	if l == "" || len(l) > 63 {
		return errors.New("labels are 1-63 characters")
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return errors.New("labels do not start or end with '-'")
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return fmt.Errorf("character %q not allowed", c)
		}
	}
	return nil
}

// parentSuffixes calls fn with each proper suffix of the normalized name
// that a wildcard "*.suffix" would cover: for "a.b.c", "b.c" then "c". It
// stops when fn returns true and reports whether it did. It does not
// allocate.
func parentSuffixes(name string, fn func(suffix string) bool) bool {
	for i := 0; i < len(name); i++ {
		if name[i] == '.' && fn(name[i+1:]) {
			return true
		}
	}
	return false
}
