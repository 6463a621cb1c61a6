package stunmsg

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/pion/stun/v2"
)

var testTxID = [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}

func TestMessageTypeTable(t *testing.T) {
	// Expected values computed with pion's stun.NewType (RFC 8489 §5 encoding).
	tests := []struct {
		method Method
		class  Class
		want   uint16
	}{
		{Binding, Request, 0x0001}, {Binding, Success, 0x0101}, {Binding, Error, 0x0111}, {Binding, Indication, 0x0011},
		{Allocate, Request, 0x0003}, {Allocate, Success, 0x0103}, {Allocate, Error, 0x0113},
		{Refresh, Request, 0x0004}, {Refresh, Success, 0x0104}, {Refresh, Error, 0x0114},
		{Send, Indication, 0x0016}, {Data, Indication, 0x0017},
		{CreatePermission, Request, 0x0008}, {CreatePermission, Success, 0x0108}, {CreatePermission, Error, 0x0118},
		{ChannelBind, Request, 0x0009}, {ChannelBind, Success, 0x0109}, {ChannelBind, Error, 0x0119},
	}
	for _, tc := range tests {
		if got := MessageType(tc.method, tc.class); got != tc.want {
			t.Errorf("MessageType(%v, %v) = %#04x, want %#04x", tc.method, tc.class, got, tc.want)
		}
	}
}

// TestMessageTypeAgainstPion compares every method and class with pion.
func TestMessageTypeAgainstPion(t *testing.T) {
	for method := Method(0); method < 0x1000; method++ {
		for class := Class(0); class < 4; class++ {
			typ := MessageType(method, class)
			want := stun.NewType(stun.Method(method), stun.MessageClass(class)).Value()
			if typ != want {
				t.Fatalf("MessageType(%#03x, %d) = %#04x, pion %#04x", method, class, typ, want)
			}
			if m, c := SplitType(typ); m != method || c != class {
				t.Fatalf("SplitType(%#04x) = %#03x, %d", typ, m, c)
			}
		}
	}
}

func TestDecodeXORAddressLengths(t *testing.T) {
	tests := []struct {
		name string
		v    []byte
		want Reason
	}{
		{"empty (pion v2 panics)", nil, ReasonBadValueLength},
		{"2 bytes", []byte{0, 1}, ReasonBadValueLength},
		{"3 bytes", []byte{0, 1, 0}, ReasonBadValueLength},
		{"IPv4 header only", []byte{0, 1, 0, 1}, ReasonBadValueLength},
		{"IPv4 7 bytes", make4(7, 1), ReasonBadValueLength},
		{"IPv4 9 bytes", make4(9, 1), ReasonBadValueLength},
		{"IPv4 20 bytes", make4(20, 1), ReasonBadValueLength},
		{"IPv6 8 bytes", make4(8, 2), ReasonBadValueLength},
		{"IPv6 19 bytes", make4(19, 2), ReasonBadValueLength},
		{"IPv6 21 bytes", make4(21, 2), ReasonBadValueLength},
		{"family 0", make4(8, 0), ReasonBadFamily},
		{"family 3", make4(20, 3), ReasonBadFamily},
		{"IPv4", make4(8, 1), ReasonOK},
		{"IPv6", make4(20, 2), ReasonOK},
		{"reserved byte ignored", append([]byte{0xff}, make4(8, 1)[1:]...), ReasonOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeXORAddress(tc.v, testTxID)
			if tc.want == ReasonOK && err != nil || tc.want != ReasonOK && err != tc.want {
				t.Fatalf("DecodeXORAddress = %v, want %v", err, tc.want)
			}
			_, err = DecodeAddress(tc.v)
			if tc.want == ReasonOK && err != nil || tc.want != ReasonOK && err != tc.want {
				t.Fatalf("DecodeAddress = %v, want %v", err, tc.want)
			}
		})
	}
}

// make4 returns an n-byte address value with the given family byte.
func make4(n int, family byte) []byte {
	v := make([]byte, n)
	if n > 1 {
		v[1] = family
	}
	return v
}

// TestXORAddressAgainstPion encodes random addresses with our code and
// decodes them with ours and with pion's XORMappedAddress, as
// XOR-PEER-ADDRESS in a message with a random transaction ID.
func TestXORAddressAgainstPion(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		var ap netip.AddrPort
		port := uint16(rng.Uint32())
		if i%2 == 0 {
			var a [4]byte
			putRandom(rng, a[:])
			ap = netip.AddrPortFrom(netip.AddrFrom4(a), port)
		} else {
			var a [16]byte
			putRandom(rng, a[:])
			a[0] |= 0x20 // keep out of ::ffff:0:0/96, which pion would shorten
			ap = netip.AddrPortFrom(netip.AddrFrom16(a), port)
		}
		var txid [12]byte
		putRandom(rng, txid[:])
		var b Builder
		b.Reset(make([]byte, 0, 64), MessageType(Send, Indication), txid)
		b.AddXORAddress(AttrXORPeerAddress, ap)
		raw, err := b.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		var m Message
		if err := m.Parse(raw); err != nil {
			t.Fatal(err)
		}
		v, _ := m.Get(AttrXORPeerAddress)
		got, err := DecodeXORAddress(v, m.TransactionID)
		if err != nil || got != ap {
			t.Fatalf("round trip %v: got %v, %v", ap, got, err)
		}
		var pa stun.XORMappedAddress
		if err := pa.GetFromAs(pionDecode(t, raw), stun.AttrXORPeerAddress); err != nil {
			t.Fatalf("pion: %v", err)
		}
		pip, _ := netip.AddrFromSlice(pa.IP)
		if ap.Addr().Is4() {
			pip = pip.Unmap()
		}
		if pip != ap.Addr() || pa.Port != int(ap.Port()) {
			t.Fatalf("pion decodes %v:%d, we encoded %v", pa.IP, pa.Port, ap)
		}
	}
}

func putRandom(rng *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
}

// TestXORAddressFromPion decodes addresses that pion encoded.
func TestXORAddressFromPion(t *testing.T) {
	for _, s := range []string{"192.0.2.1:32853", "[2001:db8::1]:3478", "0.0.0.0:0", "[::]:65535"} {
		ap := netip.MustParseAddrPort(s)
		pm := stun.MustBuild(stun.NewTransactionIDSetter(testTxID), stun.BindingSuccess,
			&stun.XORMappedAddress{IP: net.IP(ap.Addr().AsSlice()), Port: int(ap.Port())})
		var m Message
		if err := m.Parse(pm.Raw); err != nil {
			t.Fatalf("%s: Parse: %v", s, err)
		}
		v, _ := m.Get(AttrXORMappedAddress)
		got, err := DecodeXORAddress(v, m.TransactionID)
		if err != nil || got != ap {
			t.Fatalf("%s: got %v, %v", s, got, err)
		}
	}
}

func TestFixedValueDecoders(t *testing.T) {
	if x, ok := DecodeLifetime([]byte{0, 0, 0x0e, 0x10}); !ok || x != 3600 {
		t.Errorf("LIFETIME = %d, %v", x, ok)
	}
	for _, n := range []int{0, 1, 3, 5, 7, 9, 12} {
		v := make([]byte, n)
		if _, ok := DecodeLifetime(v); ok {
			t.Errorf("LIFETIME of %d bytes accepted", n)
		}
		if _, ok := DecodeChannelNumber(v); ok {
			t.Errorf("CHANNEL-NUMBER of %d bytes accepted", n)
		}
		if _, ok := DecodeRequestedTransport(v); ok {
			t.Errorf("REQUESTED-TRANSPORT of %d bytes accepted", n)
		}
		if _, ok := DecodeAddressFamily(v); ok {
			t.Errorf("address family of %d bytes accepted", n)
		}
		if _, ok := DecodeReservationToken(v); ok {
			t.Errorf("RESERVATION-TOKEN of %d bytes accepted", n)
		}
		if _, _, _, ok := DecodeICMP(v); ok {
			t.Errorf("ICMP of %d bytes accepted", n)
		}
	}
	if _, ok := DecodeLifetime(make([]byte, 8)); ok {
		t.Error("LIFETIME of 8 bytes accepted")
	}
	if _, _, _, ok := DecodeICMP(make([]byte, 4)); ok {
		t.Error("ICMP of 4 bytes accepted")
	}
	if _, ok := DecodeReservationToken(make([]byte, 4)); ok {
		t.Error("RESERVATION-TOKEN of 4 bytes accepted")
	}
	if ch, ok := DecodeChannelNumber([]byte{0x40, 0x01, 0xff, 0xff}); !ok || ch != 0x4001 {
		t.Errorf("CHANNEL-NUMBER with RFFU set = %#x, %v; RFFU must be ignored", ch, ok)
	}
	if p, ok := DecodeRequestedTransport([]byte{17, 1, 2, 3}); !ok || p != ProtoUDP {
		t.Errorf("REQUESTED-TRANSPORT = %d, %v", p, ok)
	}
	if f, ok := DecodeAddressFamily([]byte{2, 0, 0, 0}); !ok || f != FamilyIPv6 {
		t.Errorf("address family = %d, %v", f, ok)
	}
	if f, ok := DecodeAddressFamily([]byte{7, 0, 0, 0}); !ok || f != 7 {
		t.Errorf("unknown family must be returned for a 440, got %d, %v", f, ok)
	}
	evenPort := []struct {
		v             []byte
		reserve, isOK bool
	}{
		{nil, false, false}, {[]byte{0x80, 0}, false, false},
		{[]byte{0x80}, true, true}, {[]byte{0x00}, false, true}, {[]byte{0x7f}, false, true}, {[]byte{0xff}, true, true},
	}
	for _, tc := range evenPort {
		if r, ok := DecodeEvenPort(tc.v); r != tc.reserve || ok != tc.isOK {
			t.Errorf("EVEN-PORT %x = %v, %v", tc.v, r, ok)
		}
	}
	if tok, ok := DecodeReservationToken([]byte("8bytes!!")); !ok || string(tok[:]) != "8bytes!!" {
		t.Errorf("RESERVATION-TOKEN = %q, %v", tok, ok)
	}
	if typ, code, data, ok := DecodeICMP([]byte{0xff, 0xff, 3, 4, 0, 0, 0x05, 0xdc}); !ok || typ != 3 || code != 4 || data != 1500 {
		t.Errorf("ICMP = %d %d %d %v", typ, code, data, ok)
	}
	if got, ok := DecodeUnknownAttributes([]byte{0x77, 0x77, 0, 0x1b}, nil); !ok || len(got) != 2 || got[0] != 0x7777 || got[1] != AttrAccessToken {
		t.Errorf("UNKNOWN-ATTRIBUTES = %#04x, %v", got, ok)
	}
	if got, ok := DecodeUnknownAttributes([]byte{0x77, 0x77, 0}, []uint16{1}); ok || len(got) != 1 {
		t.Errorf("odd UNKNOWN-ATTRIBUTES accepted: %v %v", got, ok)
	}
}

func TestDecodeErrorCodes(t *testing.T) {
	tests := []struct {
		name   string
		v      []byte
		code   int
		reason string
		err    error
	}{
		{"438", append([]byte{0, 0, 4, 38}, "Stale Nonce"...), 438, "Stale Nonce", nil},
		{"reserved bits ignored", append([]byte{0xff, 0xff, 0xfd, 20}, "x"...), 520, "x", nil},
		{"empty reason", []byte{0, 0, 3, 0}, 300, "", nil},
		{"699", []byte{0, 0, 6, 99}, 699, "", nil},
		{"short", []byte{0, 0, 4}, 0, "", ReasonBadValueLength},
		{"class 2", []byte{0, 0, 2, 0}, 0, "", ReasonBadErrorCode},
		{"class 7", []byte{0, 0, 7, 0}, 0, "", ReasonBadErrorCode},
		{"number 100", []byte{0, 0, 4, 100}, 0, "", ReasonBadErrorCode},
		{"invalid UTF-8", []byte{0, 0, 4, 0, 0xff}, 0, "", ReasonBadText},
		{"128 characters", append([]byte{0, 0, 4, 0}, strings.Repeat("é", 128)...), 0, "", ReasonBadText},
		{"127 characters", append([]byte{0, 0, 4, 0}, strings.Repeat("é", 127)...), 400, strings.Repeat("é", 127), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, reason, err := DecodeErrorCode(tc.v)
			if code != tc.code || string(reason) != tc.reason || err != tc.err {
				t.Fatalf("DecodeErrorCode = %d %q %v", code, reason, err)
			}
			v := append([]byte{}, tc.v...)
			if len(v) > 0 {
				v[0] = byte(FamilyIPv6)
			}
			fam, code, reason, err := DecodeAddressErrorCode(v)
			if code != tc.code || string(reason) != tc.reason || err != tc.err || err == nil && fam != FamilyIPv6 {
				t.Fatalf("DecodeAddressErrorCode = %d %d %q %v", fam, code, reason, err)
			}
		})
	}
}

func TestTextLimits(t *testing.T) {
	tests := []struct {
		name                  string
		v                     string
		username, text, nonce bool
	}{
		{"empty", "", true, true, true},
		{"ascii", "example.org", true, true, true},
		{"763 bytes", strings.Repeat("a", 763), true, false, false},
		{"764 bytes", strings.Repeat("a", 764), false, false, false},
		{"127 chars", strings.Repeat("a", 127), true, true, true},
		{"128 chars", strings.Repeat("a", 128), true, false, false},
		{"127 three-byte chars", strings.Repeat("マ", 127), true, true, true},
		{"invalid UTF-8", "a\xffb", false, false, false},
		{"quote", `a"b`, true, true, false},
		{"quoted pair", `a\"b`, true, true, true},
		{"trailing backslash", `ab\`, true, true, false},
		{"escaped CR", "a\\\rb", true, true, false},
		{"folding", "a\r\n b", true, true, true},
		{"bare CR", "a\rb", true, true, false},
		{"CRLF without space", "a\r\nb", true, true, false},
		{"LF", "a\nb", true, true, false},
		{"control", "a\x01b", true, true, false},
		{"tab and space", "a\t b", true, true, true},
		{"non-ASCII", "nönce", true, true, true},
		{"RFC 8489 nonce cookie", "obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA", true, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := []byte(tc.v)
			if ValidUsername(v) != tc.username || ValidText(v) != tc.text || ValidNonce(v) != tc.nonce {
				t.Fatalf("username %v text %v nonce %v", ValidUsername(v), ValidText(v), ValidNonce(v))
			}
			check := func(typ uint16, want bool) {
				got, err := DecodeText(typ, v)
				if (err == nil) != want || err == nil && string(got) != tc.v {
					t.Errorf("DecodeText(%#04x) = %q, %v", typ, got, err)
				}
			}
			check(AttrUsername, tc.username)
			check(AttrRealm, tc.text)
			check(AttrSoftware, tc.text)
			check(AttrNonce, tc.nonce)
			check(0x7000, tc.username)
		})
	}
}

func TestReasonLabels(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Reasons() {
		label := r.String()
		if label == "" || label == "unknown" || label == "ok" || seen[label] || !strings.HasPrefix(r.Error(), "stunmsg: ") {
			t.Errorf("reason %d: label %q, message %q", r, label, r.Error())
		}
		seen[label] = true
	}
	if len(seen) != int(reasonCount)-1 {
		t.Errorf("%d labels for %d reasons", len(seen), reasonCount-1)
	}
	if Reason(200).String() != "unknown" || Reason(200).Error() == "" || ReasonOK.String() != "ok" {
		t.Error("out-of-range reason")
	}
	if Binding.String() != "binding" || Method(0x0FF).String() != "unknown" || Error.String() != "error" || Class(9).String() != "unknown" {
		t.Error("method and class names")
	}
}
