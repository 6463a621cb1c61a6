package stunmsg

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"slices"
	"testing"
)

// wireAttr is an attribute written by craft exactly as given: length is the
// Length field (-1: len(value)), pad the bytes after the value.
type wireAttr struct {
	typ    uint16
	value  []byte
	length int
	pad    []byte
}

func attr(t uint16, v ...byte) wireAttr {
	return wireAttr{typ: t, value: v, length: -1, pad: make([]byte, padded(len(v))-len(v))}
}

// craft writes a message byte by byte, independently of Builder, so tests can
// produce every malformation. Length is computed from what is written.
func craft(typ uint16, attrs ...wireAttr) []byte {
	b := make([]byte, HeaderSize, 256)
	binary.BigEndian.PutUint16(b[0:2], typ)
	binary.BigEndian.PutUint32(b[4:8], MagicCookie)
	copy(b[8:], "transaction!")
	for _, a := range attrs {
		l := a.length
		if l < 0 {
			l = len(a.value)
		}
		b = binary.BigEndian.AppendUint16(b, a.typ)
		b = binary.BigEndian.AppendUint16(b, uint16(l))
		b = append(b, a.value...)
		b = append(b, a.pad...)
	}
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)-HeaderSize))
	return b
}

// withFingerprint appends a FINGERPRINT computed here from RFC 8489 §14.7.
func withFingerprint(msg []byte) []byte {
	msg = slices.Clone(msg)
	binary.BigEndian.PutUint16(msg[2:4], uint16(len(msg)-HeaderSize+8))
	crc := crc32.ChecksumIEEE(msg) ^ 0x5354554e
	msg = binary.BigEndian.AppendUint16(msg, AttrFingerprint)
	msg = binary.BigEndian.AppendUint16(msg, 4)
	return binary.BigEndian.AppendUint32(msg, crc)
}

func edit(b []byte, f func([]byte)) []byte {
	b = slices.Clone(b)
	f(b)
	return b
}

var bindingRequest = MessageType(Binding, Request)

func TestParseMalformed(t *testing.T) {
	base := craft(bindingRequest, attr(AttrSoftware, 'x'))
	many := make([]wireAttr, MaxAttributes+1)
	for i := range many {
		many[i] = attr(AttrSoftware)
	}
	tests := []struct {
		name string
		in   []byte
		want Reason
	}{
		{"empty", nil, ReasonTooShort},
		{"truncated header", base[:HeaderSize-1], ReasonTooShort},
		{"top bit 0x80", edit(base, func(b []byte) { b[0] |= 0x80 }), ReasonBadTopBits},
		{"top bit 0x40 (ChannelData range)", edit(base, func(b []byte) { b[0] |= 0x40 }), ReasonBadTopBits},
		{"top bits 0xC0", edit(base, func(b []byte) { b[0] |= 0xC0 }), ReasonBadTopBits},
		{"bad cookie", edit(base, func(b []byte) { b[7] ^= 1 }), ReasonBadCookie},
		{"RFC 3489 zero cookie", edit(base, func(b []byte) { clear(b[4:8]) }), ReasonBadCookie},
		{"length 2", edit(base, func(b []byte) { b[3] = 2 }), ReasonBadLength},
		{"length 7", edit(base, func(b []byte) { b[3] = 7 }), ReasonBadLength},
		{"length larger than datagram", edit(base, func(b []byte) { b[3] = 12 }), ReasonLengthMismatch},
		{"length smaller than datagram", edit(base, func(b []byte) { b[3] = 4 }), ReasonLengthMismatch},
		{"trailing bytes", append(slices.Clone(base), 0, 0, 0, 0), ReasonLengthMismatch},
		{"header only, length 8", edit(base[:HeaderSize], func(b []byte) { b[3] = 8 }), ReasonLengthMismatch},
		{"attribute overruns", craft(bindingRequest, wireAttr{typ: AttrSoftware, value: []byte("abcd"), length: 5}), ReasonAttrOverrun},
		{"attribute length 0xFFFF", craft(bindingRequest, wireAttr{typ: AttrData, value: []byte("abcd"), length: 0xFFFF}), ReasonAttrOverrun},
		{"second attribute overruns", craft(bindingRequest, attr(AttrSoftware, 'a'), wireAttr{typ: AttrData, length: 8, value: []byte("abcd")}), ReasonAttrOverrun},
		{"65 attributes", craft(bindingRequest, many...), ReasonTooManyAttrs},
		{"attribute after FINGERPRINT", append(withFingerprint(base), 0x80, 0x22, 0, 0), ReasonLengthMismatch},
		{"attribute after FINGERPRINT, length fixed", fixLength(append(withFingerprint(base), 0x80, 0x22, 0, 0)), ReasonFingerprintNotLast},
		{"FINGERPRINT first of two", craft(bindingRequest, attr(AttrFingerprint, 1, 2, 3, 4), attr(AttrSoftware)), ReasonFingerprintNotLast},
		{"FINGERPRINT wrong", edit(withFingerprint(base), func(b []byte) { b[len(b)-1] ^= 1 }), ReasonBadFingerprint},
		{"FINGERPRINT covers changed byte", edit(withFingerprint(base), func(b []byte) { b[HeaderSize+4] ^= 1 }), ReasonBadFingerprint},
		{"FINGERPRINT 8 bytes", craft(bindingRequest, attr(AttrFingerprint, 1, 2, 3, 4, 5, 6, 7, 8)), ReasonBadFingerprint},
		{"FINGERPRINT empty", craft(bindingRequest, attr(AttrFingerprint)), ReasonBadFingerprint},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m Message
			m.Parse(withFingerprint(base)) // leave state behind to prove reset
			err := m.Parse(tc.in)
			if err != tc.want {
				t.Fatalf("Parse = %v, want %v", err, tc.want)
			}
			if m.Raw != nil || len(m.Attrs()) != 0 || m.FingerprintAt != -1 || m.IntegrityAt != -1 {
				t.Fatalf("failed Parse left state: %+v", m.Attrs())
			}
			if _, ok := m.Get(AttrSoftware); ok {
				t.Fatal("Get finds an attribute after a failed Parse")
			}
		})
	}
}

func fixLength(b []byte) []byte {
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)-HeaderSize))
	return b
}

func TestParseAccepts(t *testing.T) {
	exactly64 := make([]wireAttr, MaxAttributes)
	for i := range exactly64 {
		exactly64[i] = attr(AttrSoftware, byte(i))
	}
	tests := []struct {
		name  string
		in    []byte
		types []uint16
	}{
		{"no attributes", craft(bindingRequest), nil},
		{"non-zero padding ignored", craft(bindingRequest, wireAttr{typ: AttrUsername, value: []byte("u"), length: -1, pad: []byte{0xff, 0x20, 0x01}}), []uint16{AttrUsername}},
		{"empty DATA", craft(MessageType(Send, Indication), attr(AttrData)), []uint16{AttrData}},
		{"64 attributes", craft(bindingRequest, exactly64...), slices.Repeat([]uint16{AttrSoftware}, MaxAttributes)},
		{"FINGERPRINT only", withFingerprint(craft(bindingRequest)), []uint16{AttrFingerprint}},
		{"unknown method and class", craft(0x3FFF, attr(0xFFFF, 1)), []uint16{0xFFFF}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m Message
			if err := m.Parse(tc.in); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !slices.Equal(attrTypes(&m), tc.types) {
				t.Fatalf("types %#04x, want %#04x", attrTypes(&m), tc.types)
			}
			agreeWithPion(t, &m)
		})
	}
}

func attrTypes(m *Message) []uint16 {
	var ts []uint16
	for _, a := range m.Attrs() {
		ts = append(ts, a.Type)
	}
	return ts
}

// TestIgnoredAfterIntegrity covers RFC 8489 §9: after
// MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT count;
// after MESSAGE-INTEGRITY-SHA256 only FINGERPRINT.
func TestIgnoredAfterIntegrity(t *testing.T) {
	mi := attr(AttrMessageIntegrity, make([]byte, 20)...)
	sha := attr(AttrMessageIntegritySHA256, make([]byte, 32)...)
	unknown := attr(0x7777, 1, 2, 3, 4)
	tests := []struct {
		name          string
		in            []byte
		types         []uint16
		miAt, shaAt   int
		fingerprintAt bool
	}{
		{"after MI", withFingerprint(craft(bindingRequest, attr(AttrUsername, 'u'), mi, unknown, attr(AttrRealm, 'r'))),
			[]uint16{AttrUsername, AttrMessageIntegrity, AttrFingerprint}, 28, -1, true},
		{"MI then MI-SHA256 then more", craft(bindingRequest, mi, unknown, sha, attr(AttrNonce, 'n'), mi),
			[]uint16{AttrMessageIntegrity, AttrMessageIntegritySHA256}, 20, 52, false},
		{"MI-SHA256 then MI", craft(bindingRequest, sha, mi, unknown),
			[]uint16{AttrMessageIntegritySHA256}, -1, 20, false},
		{"second MI ignored", craft(bindingRequest, mi, mi),
			[]uint16{AttrMessageIntegrity}, 20, -1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m Message
			if err := m.Parse(tc.in); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !slices.Equal(attrTypes(&m), tc.types) {
				t.Fatalf("types %#04x, want %#04x", attrTypes(&m), tc.types)
			}
			if m.IntegrityAt != tc.miAt || m.IntegritySHA256At != tc.shaAt || (m.FingerprintAt >= 0) != tc.fingerprintAt {
				t.Fatalf("offsets MI %d MI-SHA256 %d FP %d", m.IntegrityAt, m.IntegritySHA256At, m.FingerprintAt)
			}
			if m.Contains(0x7777) || m.Contains(AttrRealm) || m.Contains(AttrNonce) {
				t.Fatal("an attribute after the integrity attributes is visible")
			}
			if u := m.UnknownRequired(nil); len(u) != 0 {
				t.Fatalf("ignored attributes listed as unknown: %#04x", u)
			}
			agreeWithPion(t, &m)
		})
	}
}

func TestGetAllCount(t *testing.T) {
	p1, p2 := []byte{0, 1, 0, 1, 9, 9, 9, 9}, []byte{0, 1, 0, 2, 8, 8, 8, 8}
	var m Message
	if err := m.Parse(craft(MessageType(CreatePermission, Request), attr(AttrXORPeerAddress, p1...), attr(AttrUsername, 'u'), attr(AttrXORPeerAddress, p2...))); err != nil {
		t.Fatal(err)
	}
	if v, ok := m.Get(AttrXORPeerAddress); !ok || !bytes.Equal(v, p1) {
		t.Fatalf("Get = %x, %v; want the first occurrence", v, ok)
	}
	if v, ok := m.Get(AttrUsername); !ok || cap(v) != 1 {
		t.Fatalf("Get value %q has capacity %d; want it limited to its length", v, cap(v))
	}
	var got [][]byte
	for v := range m.All(AttrXORPeerAddress) {
		got = append(got, v)
	}
	if len(got) != 2 || !bytes.Equal(got[0], p1) || !bytes.Equal(got[1], p2) {
		t.Fatalf("All = %x", got)
	}
	for range m.All(AttrXORPeerAddress) {
		break // early exit must not panic
	}
	if m.Count(AttrXORPeerAddress) != 2 || m.Count(AttrRealm) != 0 {
		t.Fatal("Count")
	}
	if _, ok := m.Get(AttrRealm); ok || m.Contains(AttrRealm) {
		t.Fatal("absent attribute found")
	}
	if m.Value(Attr{Offset: 1 << 20, Length: 4}) != nil || m.Value(Attr{Offset: 0, Length: 4}) != nil {
		t.Fatal("Value accepts a descriptor outside the message")
	}
	var empty Message
	if _, ok := empty.Get(AttrRealm); ok || empty.Value(Attr{Offset: 20, Length: 1}) != nil {
		t.Fatal("zero Message yields values")
	}
}

// TestUnknownRequired covers RFC 8489 §6.3/§14.13 and the interop exceptions
// docs/protocol.md lists.
func TestUnknownRequired(t *testing.T) {
	tests := []struct {
		name  string
		attrs []wireAttr
		want  []uint16
	}{
		{"none", []wireAttr{attr(AttrUsername, 'u'), attr(AttrPriority, 0, 0, 0, 1), attr(AttrUseCandidate)}, nil},
		{"TURN attributes known", []wireAttr{attr(AttrRequestedTransport, 17, 0, 0, 0), attr(AttrDontFragment), attr(AttrEvenPort, 0x80),
			attr(AttrReservationToken, make([]byte, 8)...), attr(AttrRequestedAddressFamily, 1, 0, 0, 0), attr(AttrLifetime, 0, 0, 0, 1),
			attr(AttrChannelNumber, 0x40, 0, 0, 0), attr(AttrData), attr(AttrMappedAddress), attr(AttrErrorCode), attr(AttrUnknownAttributes),
			attr(AttrXORRelayedAddress), attr(AttrXORMappedAddress), attr(AttrRealm), attr(AttrNonce), attr(AttrXORPeerAddress)}, nil},
		{"one unknown", []wireAttr{attr(0x7777, 1)}, []uint16{0x7777}},
		{"duplicates listed once", []wireAttr{attr(0x7777), attr(0x0042), attr(0x7777)}, []uint16{0x7777, 0x0042}},
		{"optional range ignored", []wireAttr{attr(0x8777), attr(AttrMobilityTicket), attr(AttrThirdPartyAuthorization), attr(AttrICMP)}, nil},
		{"not implemented", []wireAttr{attr(AttrAccessToken), attr(AttrConnectionID, 0, 0, 0, 1), attr(AttrPasswordAlgorithm), attr(AttrUserhash)},
			[]uint16{AttrAccessToken, AttrConnectionID, AttrPasswordAlgorithm, AttrUserhash}},
		{"legacy reserved", []wireAttr{attr(0x0002), attr(0x0004), attr(0x0005), attr(0x0007), attr(0x000B), attr(0x0010), attr(0x0021)},
			[]uint16{0x0002, 0x0004, 0x0005, 0x0007, 0x000B, 0x0010, 0x0021}},
		{"CHANGE-REQUEST zero", []wireAttr{attr(AttrChangeRequest, 0, 0, 0, 0)}, nil},
		{"CHANGE-REQUEST change port", []wireAttr{attr(AttrChangeRequest, 0, 0, 0, 2)}, []uint16{AttrChangeRequest}},
		{"CHANGE-REQUEST change IP", []wireAttr{attr(AttrChangeRequest, 0, 0, 0, 4)}, []uint16{AttrChangeRequest}},
		{"CHANGE-REQUEST empty", []wireAttr{attr(AttrChangeRequest)}, []uint16{AttrChangeRequest}},
		{"CHANGE-REQUEST 8 zero bytes", []wireAttr{attr(AttrChangeRequest, make([]byte, 8)...)}, []uint16{AttrChangeRequest}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m Message
			if err := m.Parse(craft(MessageType(Allocate, Request), tc.attrs...)); err != nil {
				t.Fatal(err)
			}
			if got := m.UnknownRequired(nil); !slices.Equal(got, tc.want) {
				t.Fatalf("UnknownRequired = %#04x, want %#04x", got, tc.want)
			}
			prefix := []uint16{0x7777}
			got := m.UnknownRequired(prefix)
			if got[0] != 0x7777 || !slices.Equal(got[1:], tc.want) {
				t.Fatalf("appending to a prefix: %#04x", got)
			}
		})
	}
}
