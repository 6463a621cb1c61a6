package stunmsg

import (
	"crypto/md5"
	"net/netip"
	"testing"

	"github.com/pion/stun/v2"
)

// Test vectors of RFC 5769 §2, laid out as the RFC prints them.

const rfc5769ShortTermPassword = "VOkJxbRl1RmTxUk/WvJxBt"

var rfc5769TxID = [12]byte{0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae}

// §2.1 Sample Request: note the USERNAME padding is 0x20, not zero.
const rfc5769Request = `
00 01 00 58 | 21 12 a4 42 | b7 e7 a7 01 | bc 34 d6 86 | fa 87 df ae
80 22 00 10 | 53 54 55 4e | 20 74 65 73 | 74 20 63 6c | 69 65 6e 74
00 24 00 04 | 6e 00 01 ff
80 29 00 08 | 93 2f f9 b1 | 51 26 3b 36
00 06 00 09 | 65 76 74 6a | 3a 68 36 76 | 59 20 20 20
00 08 00 14 | 9a ea a7 0c | bf d8 cb 56 | 78 1e f2 b5 | b2 d3 f2 49 | c1 b5 71 a2
80 28 00 04 | e5 7a 3b cf`

// §2.2 Sample IPv4 Response.
const rfc5769ResponseIPv4 = `
01 01 00 3c | 21 12 a4 42 | b7 e7 a7 01 | bc 34 d6 86 | fa 87 df ae
80 22 00 0b | 74 65 73 74 | 20 76 65 63 | 74 6f 72 20
00 20 00 08 | 00 01 a1 47 | e1 12 a6 43
00 08 00 14 | 2b 91 f5 99 | fd 9e 90 c3 | 8c 74 89 f9 | 2a f9 ba 53 | f0 6b e7 d7
80 28 00 04 | c0 7d 4c 96`

// §2.3 Sample IPv6 Response.
const rfc5769ResponseIPv6 = `
01 01 00 48 | 21 12 a4 42 | b7 e7 a7 01 | bc 34 d6 86 | fa 87 df ae
80 22 00 0b | 74 65 73 74 | 20 76 65 63 | 74 6f 72 20
00 20 00 14 | 00 02 a1 47 | 01 13 a9 fa | a5 d3 f1 79 | bc 25 f4 b5 | be d2 b9 d9
00 08 00 14 | a3 82 95 4e | 4b e6 7b f1 | 17 84 c9 7c | 82 92 c2 75 | bf e3 ed 41
80 28 00 04 | c8 fb 0b 4c`

// §2.4 Sample Request with Long-Term Authentication.
const rfc5769LongTermRequest = `
00 01 00 60 | 21 12 a4 42 | 78 ad 34 33 | c6 ad 72 c0 | 29 da 41 2e
00 06 00 12 | e3 83 9e e3 | 83 88 e3 83 | aa e3 83 83 | e3 82 af e3 | 82 b9 00 00
00 15 00 1c | 66 2f 2f 34 | 39 39 6b 39 | 35 34 64 36 | 4f 4c 33 34 | 6f 4c 39 46 | 53 54 76 79 | 36 34 73 41
00 14 00 0b | 65 78 61 6d | 70 6c 65 2e | 6f 72 67 00
00 08 00 14 | f6 70 24 65 | 6d d6 4a 3e | 02 b8 e0 71 | 2e 85 c9 a2 | 8c a8 96 66`

func TestRFC5769Request(t *testing.T) {
	var m Message
	if err := m.Parse(unhex(t, rfc5769Request)); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if m.Method != Binding || m.Class != Request || m.TransactionID != rfc5769TxID {
		t.Fatalf("header: %v %v %x", m.Method, m.Class, m.TransactionID)
	}
	wantTypes := []uint16{AttrSoftware, AttrPriority, AttrICEControlled, AttrUsername, AttrMessageIntegrity, AttrFingerprint}
	if len(m.Attrs()) != len(wantTypes) {
		t.Fatalf("attributes: %v", m.Attrs())
	}
	for i, a := range m.Attrs() {
		if a.Type != wantTypes[i] {
			t.Errorf("attribute %d: type %#04x, want %#04x", i, a.Type, wantTypes[i])
		}
	}
	expectText(t, &m, AttrSoftware, "STUN test client")
	expectText(t, &m, AttrUsername, "evtj:h6vY") // 0x20 padding ignored
	if m.IntegrityAt != 76 || m.FingerprintAt != 100 {
		t.Errorf("offsets: MI %d, FINGERPRINT %d", m.IntegrityAt, m.FingerprintAt)
	}
	if !m.CheckIntegrity([]byte(rfc5769ShortTermPassword)) {
		t.Error("short-term MESSAGE-INTEGRITY does not verify")
	}
	if m.CheckIntegrity([]byte("VOkJxbRl1RmTxUk/WvJxBu")) {
		t.Error("MESSAGE-INTEGRITY verifies with a wrong password")
	}
	if m.CheckIntegritySHA256([]byte(rfc5769ShortTermPassword)) {
		t.Error("MESSAGE-INTEGRITY-SHA256 verifies although absent")
	}
	// PRIORITY is known-and-ignored so the ICE request is answerable (docs/protocol.md).
	if u := m.UnknownRequired(nil); len(u) != 0 {
		t.Errorf("unknown required attributes: %#04x", u)
	}
	agreeWithPion(t, &m)
}

func TestRFC5769Responses(t *testing.T) {
	tests := []struct {
		name string
		dump string
		want netip.AddrPort
	}{
		{"§2.2 IPv4", rfc5769ResponseIPv4, netip.MustParseAddrPort("192.0.2.1:32853")},
		{"§2.3 IPv6", rfc5769ResponseIPv6, netip.MustParseAddrPort("[2001:db8:1234:5678:11:2233:4455:6677]:32853")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m Message
			if err := m.Parse(unhex(t, tc.dump)); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if m.Method != Binding || m.Class != Success || m.TransactionID != rfc5769TxID {
				t.Fatalf("header: %v %v %x", m.Method, m.Class, m.TransactionID)
			}
			expectText(t, &m, AttrSoftware, "test vector")
			v, ok := m.Get(AttrXORMappedAddress)
			if !ok {
				t.Fatal("no XOR-MAPPED-ADDRESS")
			}
			got, err := DecodeXORAddress(v, m.TransactionID)
			if err != nil || got != tc.want {
				t.Fatalf("XOR-MAPPED-ADDRESS = %v, %v; want %v", got, err, tc.want)
			}
			if !m.CheckIntegrity([]byte(rfc5769ShortTermPassword)) {
				t.Error("short-term MESSAGE-INTEGRITY does not verify")
			}
			if m.FingerprintAt < 0 {
				t.Error("FINGERPRINT not recorded")
			}
			agreeWithPion(t, &m)
			// Rebuilding the response with our Builder gives the RFC bytes
			// except SOFTWARE's padding (0x20 in the RFC, zero from us).
			var b Builder
			b.Reset(make([]byte, 0, 128), MessageType(Binding, Success), m.TransactionID)
			b.AddString(AttrSoftware, "test vector")
			b.AddXORAddress(AttrXORMappedAddress, tc.want)
			b.AddIntegrity([]byte(rfc5769ShortTermPassword))
			b.AddFingerprint()
			built, err := b.Bytes()
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			var rebuilt Message
			if err := rebuilt.Parse(built); err != nil {
				t.Fatalf("Parse rebuilt: %v", err)
			}
			if !rebuilt.CheckIntegrity([]byte(rfc5769ShortTermPassword)) {
				t.Error("rebuilt MESSAGE-INTEGRITY does not verify")
			}
			xa, _ := rebuilt.Get(AttrXORMappedAddress)
			if string(xa) != string(v) {
				t.Errorf("XOR-MAPPED-ADDRESS bytes %x, RFC %x", xa, v)
			}
		})
	}
}

func TestRFC5769LongTermRequest(t *testing.T) {
	var m Message
	if err := m.Parse(unhex(t, rfc5769LongTermRequest)); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	const user, realm = "\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9", "example.org"
	expectText(t, &m, AttrUsername, user)
	expectText(t, &m, AttrNonce, "f//499k954d6OL34oL9FSTvy64sA")
	expectText(t, &m, AttrRealm, realm)
	if m.FingerprintAt != -1 || m.IntegritySHA256At != -1 {
		t.Errorf("offsets: FINGERPRINT %d, MI-SHA256 %d", m.FingerprintAt, m.IntegritySHA256At)
	}
	// RFC 8489 §9.2.2 key: MD5(username ":" realm ":" password), with the
	// password "The\u00ADM\u00AAtr\u2168" already prepared to "TheMatrIX".
	key := md5.Sum([]byte(user + ":" + realm + ":TheMatrIX"))
	if !m.CheckIntegrity(key[:]) {
		t.Error("long-term MESSAGE-INTEGRITY does not verify")
	}
	if err := stun.NewLongTermIntegrity(user, realm, "TheMatrIX").Check(pionDecode(t, m.Raw)); err != nil {
		t.Errorf("pion disagrees on the key: %v", err)
	}
	agreeWithPion(t, &m)
}

// expectText checks that the first attribute t is a valid text value equal
// to want.
func expectText(t *testing.T, m *Message, typ uint16, want string) {
	t.Helper()
	v, ok := m.Get(typ)
	if !ok {
		t.Fatalf("attribute %#04x missing", typ)
	}
	got, err := DecodeText(typ, v)
	if err != nil || string(got) != want {
		t.Errorf("attribute %#04x = %q, %v; want %q", typ, got, err, want)
	}
}
