package auth

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	testNonceKey = bytes.Repeat([]byte{0x5a}, MinNonceKeyBytes)
	clientV4     = netip.MustParseAddrPort("192.0.2.10:40000")
	clientV6     = netip.MustParseAddrPort("[2001:db8::10]:40000")
	nonceNow     = time.Unix(1_700_000_000, 250_000_000)
)

func mustNonces(t testing.TB, lifetime time.Duration) *Nonces {
	t.Helper()
	n, err := NewNonces(testNonceKey, lifetime)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNewNoncesValidation(t *testing.T) {
	tests := []struct {
		name     string
		key      []byte
		lifetime time.Duration
		wantErr  string
	}{
		{"ok", testNonceKey, 10 * time.Minute, ""},
		{"one second", testNonceKey, time.Second, ""},
		{"one hour", testNonceKey, time.Hour, ""},
		{"long key", make([]byte, 200), time.Minute, ""},
		{"short key", make([]byte, MinNonceKeyBytes-1), time.Minute, "need at least"},
		{"nil key", nil, time.Minute, "need at least"},
		{"zero lifetime", testNonceKey, 0, "lifetime"},
		{"sub-second lifetime", testNonceKey, time.Millisecond, "lifetime"},
		{"over an hour", testNonceKey, time.Hour + time.Second, "RFC 8656 §5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := NewNonces(tc.key, tc.lifetime)
			if tc.wantErr == "" {
				if err != nil || n.Lifetime() != tc.lifetime {
					t.Fatalf("NewNonces = %v, %v", n, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestNonceFormat(t *testing.T) {
	n := mustNonces(t, time.Minute)
	for _, client := range []netip.AddrPort{clientV4, clientV6, {}} {
		nonce := n.Mint(client, nonceNow)
		if len(nonce) != NonceLen || len(nonce) >= 128 {
			t.Fatalf("nonce %q has length %d, want %d (< 128, RFC 8489 §14.10)", nonce, len(nonce), NonceLen)
		}
		if !strings.HasPrefix(nonce, "obMatJos2AAAA") {
			t.Fatalf("nonce %q lacks the RFC 8489 §9.2 cookie with zero features", nonce)
		}
		for _, c := range nonce {
			// qdtext (RFC 3261 §25.1) excludes '"' and '\\' and controls;
			// base64url keeps to letters, digits, '-' and '_'.
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				t.Fatalf("nonce %q contains %q", nonce, c)
			}
		}
	}
}

func TestNonceCheck(t *testing.T) {
	const lifetime = time.Minute
	n := mustNonces(t, lifetime)
	other := mustNonces(t, lifetime)
	other.pads = newHMACPads(bytes.Repeat([]byte{0xa5}, MinNonceKeyBytes), sha256Digest)
	mintedV4 := n.Mint(clientV4, nonceNow)
	mintedV6 := n.Mint(clientV6, nonceNow)
	expirySecond := time.Unix(nonceNow.Add(lifetime).Unix(), 0)
	tests := []struct {
		name   string
		nonce  string
		client netip.AddrPort
		now    time.Time
		want   NonceStatus
	}{
		{"fresh v4", mintedV4, clientV4, nonceNow, NonceValid},
		{"fresh v6", mintedV6, clientV6, nonceNow, NonceValid},
		{"v4-mapped v6 is the same client", mintedV4, netip.MustParseAddrPort("[::ffff:192.0.2.10]:40000"), nonceNow, NonceValid},
		{"last valid instant", mintedV4, clientV4, expirySecond.Add(-time.Nanosecond), NonceValid},
		{"at expiry", mintedV4, clientV4, expirySecond, NonceStale},
		{"long after expiry", mintedV4, clientV4, nonceNow.Add(24 * time.Hour), NonceStale},
		{"clock stepped back beyond lifetime", mintedV4, clientV4, nonceNow.Add(-time.Minute - time.Second), NonceStale},
		{"clock stepped back within lifetime", mintedV4, clientV4, nonceNow.Add(-time.Second), NonceValid},
		{"clock stepped back one second too far", mintedV4, clientV4, nonceNow.Add(-2 * time.Second), NonceStale},
		// Another goroutine's clock read a moment before the mint, across a
		// second boundary.
		{"checked just before a second boundary", n.Mint(clientV4, time.Unix(1_700_000_001, 1000)), clientV4, time.Unix(1_700_000_000, 999_999_000), NonceValid},
		{"other port", mintedV4, netip.MustParseAddrPort("192.0.2.10:40001"), nonceNow, NonceInvalid},
		{"other ip", mintedV4, netip.MustParseAddrPort("192.0.2.11:40000"), nonceNow, NonceInvalid},
		{"other family", mintedV6, netip.MustParseAddrPort("[2001:db8::11]:40000"), nonceNow, NonceInvalid},
		{"other port, expired", mintedV4, netip.MustParseAddrPort("192.0.2.10:40001"), nonceNow.Add(time.Hour), NonceInvalid},
		{"other key", other.Mint(clientV4, nonceNow), clientV4, nonceNow, NonceInvalid},
		{"empty", "", clientV4, nonceNow, NonceInvalid},
		{"cookie only", NonceCookie, clientV4, nonceNow, NonceInvalid},
		{"wrong cookie", "obMatJos2AAAB" + mintedV4[len(NonceCookie):], clientV4, nonceNow, NonceInvalid},
		{"password-algorithms cookie", "obMatJos2gAAA" + mintedV4[len(NonceCookie):], clientV4, nonceNow, NonceInvalid},
		{"no cookie", mintedV4[len(NonceCookie):], clientV4, nonceNow, NonceInvalid},
		{"truncated", mintedV4[:NonceLen-1], clientV4, nonceNow, NonceInvalid},
		{"extended", mintedV4 + "A", clientV4, nonceNow, NonceInvalid},
		{"padding char", mintedV4[:NonceLen-1] + "=", clientV4, nonceNow, NonceInvalid},
		{"newline inside", mintedV4[:20] + "\n" + mintedV4[21:], clientV4, nonceNow, NonceInvalid},
		{"pion-style hex nonce", "0123456789abcdef0123456789abcdef0123456789abcdef", clientV4, nonceNow, NonceInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := n.Check([]byte(tc.nonce), tc.client, tc.now); got != tc.want {
				t.Fatalf("Check = %v, want %v", got, tc.want)
			}
		})
	}
}

// Changing any single byte of a valid nonce to any other value makes it
// Invalid — never Valid, and never Stale (which would reveal authenticity).
func TestNonceTamperAnyByte(t *testing.T) {
	n := mustNonces(t, time.Minute)
	nonce := []byte(n.Mint(clientV4, nonceNow))
	for i := range nonce {
		orig := nonce[i]
		for v := 0; v < 256; v++ {
			if byte(v) == orig {
				continue
			}
			nonce[i] = byte(v)
			for _, now := range []time.Time{nonceNow, nonceNow.Add(time.Hour)} {
				if got := n.Check(nonce, clientV4, now); got != NonceInvalid {
					t.Fatalf("byte %d set to %#x: Check = %v at %v", i, v, got, now)
				}
			}
		}
		nonce[i] = orig
	}
	if n.Check(nonce, clientV4, nonceNow) != NonceValid {
		t.Fatal("restored nonce is not valid")
	}
}

func TestNonceCheckDoesNotModifyInput(t *testing.T) {
	n := mustNonces(t, time.Minute)
	nonce := []byte(n.Mint(clientV4, nonceNow))
	before := bytes.Clone(nonce)
	n.Check(nonce, clientV4, nonceNow)
	if !bytes.Equal(nonce, before) {
		t.Fatal("Check modified its input")
	}
}

func TestNonceCheckDoesNotAllocate(t *testing.T) {
	n := mustNonces(t, time.Minute)
	valid := []byte(n.Mint(clientV6, nonceNow))
	forged := bytes.Clone(valid)
	forged[NonceLen-1] ^= 1
	for _, nonce := range [][]byte{valid, forged, []byte("short"), nil} {
		if a := testing.AllocsPerRun(200, func() { n.Check(nonce, clientV6, nonceNow) }); a != 0 {
			t.Fatalf("Check(%q) allocates %v times per call", nonce, a)
		}
	}
}

func TestNonceStatusString(t *testing.T) {
	for s, want := range map[NonceStatus]string{NonceInvalid: "invalid", NonceStale: "stale", NonceValid: "valid", 99: "invalid"} {
		if s.String() != want {
			t.Errorf("NonceStatus(%d).String() = %q, want %q", s, s.String(), want)
		}
	}
	var zero NonceStatus
	if zero != NonceInvalid {
		t.Error("the zero NonceStatus must be NonceInvalid")
	}
}

func TestWithin(t *testing.T) {
	const maxI, minI = maxInt64, -maxInt64 - 1
	tests := []struct {
		expiry, now, span int64
		want              bool
	}{
		{10, 5, 5, true},
		{10, 5, 4, false},
		{10, 10, 5, false},
		{10, 11, 5, false},
		{maxI, minI, maxI, false}, // difference 2^64-1 exceeds any span
		{maxI, maxI - 1, 1, true},
		{minI + 1, minI, 1, true},
	}
	for _, tc := range tests {
		if got := within(tc.expiry, tc.now, tc.span); got != tc.want {
			t.Errorf("within(%d, %d, %d) = %v, want %v", tc.expiry, tc.now, tc.span, got, tc.want)
		}
	}
}

// A Nonces not built by NewNonces would have an all-zero key: it must not
// accept or issue anything.
func TestZeroNonces(t *testing.T) {
	var zero Nonces
	forged := newHMACPads(make([]byte, MinNonceKeyBytes), sha256Digest)
	withZeroKey := Nonces{pads: forged, lifetime: time.Minute}
	nonce := []byte(withZeroKey.Mint(clientV4, nonceNow))
	if got := zero.Check(nonce, clientV4, nonceNow); got != NonceInvalid {
		t.Fatalf("zero Nonces.Check = %v", got)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("zero Nonces.Mint did not panic")
		}
	}()
	zero.Mint(clientV4, nonceNow)
}
