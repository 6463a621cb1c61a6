package turnwire

import (
	"encoding/hex"
	"net/netip"
	"testing"
)

func TestXORAddrRFC5769Vectors(t *testing.T) {
	// RFC 5769 §2.2 and §2.3: XOR-MAPPED-ADDRESS values of the sample
	// responses, transaction ID b7e7a701bc34d686fa87dfae.
	var txid [12]byte
	hex.Decode(txid[:], []byte("b7e7a701bc34d686fa87dfae"))
	tests := []struct {
		name  string
		value string
		want  netip.AddrPort
	}{
		{"ipv4", "0001a147e112a643", netip.MustParseAddrPort("192.0.2.1:32853")},
		{"ipv6", "0002a1470113a9faa5d3f179bc25f4b5bed2b9d9", netip.MustParseAddrPort("[2001:db8:1234:5678:11:2233:4455:6677]:32853")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, _ := hex.DecodeString(tc.value)
			got, err := ParseXORAddr(v, &txid)
			if err != nil || got != tc.want {
				t.Fatalf("ParseXORAddr = %v, %v; want %v", got, err, tc.want)
			}
			buf := make([]byte, XORAddrSize(tc.want))
			n := PutXORAddr(buf, tc.want, &txid)
			if hex.EncodeToString(buf[:n]) != tc.value {
				t.Fatalf("PutXORAddr = %x, want %s", buf[:n], tc.value)
			}
		})
	}
}

func TestParseXORAddrRejectsMalformed(t *testing.T) {
	var txid [12]byte
	tests := []struct {
		name  string
		value []byte
	}{
		{"empty", nil},
		{"short header", []byte{0, 1, 0}},
		{"ipv4 truncated", []byte{0, 1, 0, 0, 1, 2, 3}},
		{"ipv4 too long", []byte{0, 1, 0, 0, 1, 2, 3, 4, 5}},
		{"ipv6 truncated", append([]byte{0, 2, 0, 0}, make([]byte, 15)...)},
		{"unknown family", []byte{0, 3, 0, 0, 1, 2, 3, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := ParseXORAddr(tc.value, &txid); err == nil {
				t.Fatalf("ParseXORAddr(%x) = %v, want error", tc.value, got)
			}
		})
	}
}

func TestXORAddrMappedIPv4WrittenAsIPv4(t *testing.T) {
	var txid [12]byte
	mapped := netip.AddrPortFrom(netip.MustParseAddr("::ffff:127.0.0.1"), 9)
	buf := make([]byte, 20)
	if n := PutXORAddr(buf, mapped, &txid); n != 8 {
		t.Fatalf("size %d, want 8", n)
	}
	got, err := ParseXORAddr(buf[:8], &txid)
	if err != nil || got != netip.MustParseAddrPort("127.0.0.1:9") {
		t.Fatalf("round trip = %v, %v", got, err)
	}
}
