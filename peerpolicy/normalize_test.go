package peerpolicy

import (
	"net/netip"
	"slices"
	"testing"
)

// TestNormalize: every embedding RFC 8656 §21 and the NAT64 RFCs define is
// read at the right bits, mapped and zoned forms become canonical, and the
// addresses that only look like embeddings (::, ::1, native IPv6) carry
// nothing.
func TestNormalize(t *testing.T) {
	tests := []struct {
		in   string
		addr string
		kind Embedding
		ipv4 []string
	}{
		{"192.0.2.1", "192.0.2.1", EmbedNone, nil},
		{"::ffff:127.0.0.1", "127.0.0.1", EmbedNone, nil},
		{"2001:db8::1%eth0", "2001:db8::1", EmbedNone, nil},
		{"::", "::", EmbedNone, nil},
		{"::1", "::1", EmbedNone, nil},
		{"::127.0.0.1", "::7f00:1", EmbedCompat, []string{"127.0.0.1"}},
		{"::169.254.169.254", "::a9fe:a9fe", EmbedCompat, []string{"169.254.169.254"}},
		{"::2", "::2", EmbedCompat, []string{"0.0.0.2"}},
		{"64:ff9b::7f00:1", "64:ff9b::7f00:1", EmbedNAT64, []string{"127.0.0.1"}},
		{"64:ff9b::a9fe:a9fe", "64:ff9b::a9fe:a9fe", EmbedNAT64, []string{"169.254.169.254"}},
		// RFC 6052 §2.2: /48, /56, /64 and /96 layouts, the u octet skipped.
		{"64:ff9b:1:102:3:405:607:809", "64:ff9b:1:102:3:405:607:809", EmbedNAT64Local,
			[]string{"1.2.3.4", "2.3.4.5", "3.4.5.6", "6.7.8.9"}},
		{"64:ff9b:1::a9fe:a9fe", "64:ff9b:1::a9fe:a9fe", EmbedNAT64Local,
			[]string{"0.0.0.0", "0.0.0.0", "0.0.0.169", "169.254.169.254"}},
		{"2002:7f00:1::1", "2002:7f00:1::1", EmbedSixToFour, []string{"127.0.0.1"}},
		// RFC 4380 §4 example: server 65.54.227.120, client 192.0.2.45
		// (stored inverted as 3fff:fdd2).
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:4136:e378:8000:63bf:3fff:fdd2", EmbedTeredo,
			[]string{"65.54.227.120", "192.0.2.45"}},
	}
	for _, tc := range tests {
		n := Normalize(netip.MustParseAddr(tc.in))
		var got []string
		for _, e := range n.Embedded() {
			got = append(got, e.String())
		}
		if n.Addr.String() != tc.addr || n.Kind != tc.kind || !slices.Equal(got, tc.ipv4) {
			t.Errorf("Normalize(%s) = %s kind %d %v, want %s kind %d %v", tc.in, n.Addr, n.Kind, got, tc.addr, tc.kind, tc.ipv4)
		}
	}
	if n := Normalize(netip.Addr{}); n.Addr.IsValid() || n.N != 0 {
		t.Errorf("Normalize(invalid) = %+v", n)
	}
}
