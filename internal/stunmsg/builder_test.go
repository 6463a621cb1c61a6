package stunmsg

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/pion/stun/v2"
)

var testKey = []byte("long-term key, 16")

// TestBuilderAllocateSuccessWithPion builds a dual-stack Allocate success
// response and has pion decode every attribute and verify MESSAGE-INTEGRITY
// and FINGERPRINT.
func TestBuilderAllocateSuccessWithPion(t *testing.T) {
	relay4 := netip.MustParseAddrPort("203.0.113.7:49152")
	relay6 := netip.MustParseAddrPort("[2001:db8::7]:49153")
	mapped := netip.MustParseAddrPort("198.51.100.2:61000")
	token := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}

	var b Builder
	b.Reset(garbage(512), MessageType(Allocate, Success), testTxID)
	b.AddXORAddress(AttrXORRelayedAddress, relay4)
	b.AddXORAddress(AttrXORRelayedAddress, relay6)
	b.AddUint32(AttrLifetime, 600)
	b.Add(AttrReservationToken, token[:])
	b.AddXORAddress(AttrXORMappedAddress, mapped)
	b.AddText(AttrSoftware, "turnstile")
	b.AddIntegrity(testKey)
	b.AddFingerprint()
	raw, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}

	pm := pionDecode(t, raw)
	if pm.Type.Method != stun.MethodAllocate || pm.Type.Class != stun.ClassSuccessResponse || pm.TransactionID != testTxID {
		t.Fatalf("pion header: %v %x", pm.Type, pm.TransactionID)
	}
	if err := stun.NewShortTermIntegrity(string(testKey)).Check(pm); err != nil {
		t.Fatalf("pion MESSAGE-INTEGRITY: %v", err)
	}
	if err := stun.Fingerprint.Check(pm); err != nil {
		t.Fatalf("pion FINGERPRINT: %v", err)
	}
	var relayed []netip.AddrPort
	for _, a := range pm.Attributes {
		if a.Type == stun.AttrXORRelayedAddress {
			one := &stun.Message{Raw: append([]byte(nil), raw...)}
			one.Attributes = stun.Attributes{a}
			one.TransactionID = pm.TransactionID
			var xa stun.XORMappedAddress
			if err := xa.GetFromAs(one, stun.AttrXORRelayedAddress); err != nil {
				t.Fatal(err)
			}
			ip, _ := netip.AddrFromSlice(xa.IP)
			relayed = append(relayed, netip.AddrPortFrom(ip.Unmap(), uint16(xa.Port)))
		}
	}
	if len(relayed) != 2 || relayed[0] != relay4 || relayed[1] != relay6 {
		t.Fatalf("pion XOR-RELAYED-ADDRESS: %v", relayed)
	}
	var xm stun.XORMappedAddress
	if err := xm.GetFrom(pm); err != nil || !xm.IP.Equal(net.IP(mapped.Addr().AsSlice())) || xm.Port != int(mapped.Port()) {
		t.Fatalf("pion XOR-MAPPED-ADDRESS: %v %v", xm, err)
	}
	var sw stun.Software
	if err := sw.GetFrom(pm); err != nil || sw.String() != "turnstile" {
		t.Fatalf("pion SOFTWARE: %q %v", sw, err)
	}
	if v, err := pm.Get(stun.AttrLifetime); err != nil || binary.BigEndian.Uint32(v) != 600 {
		t.Fatalf("pion LIFETIME: %x %v", v, err)
	}

	var m Message
	if err := m.Parse(raw); err != nil {
		t.Fatal(err)
	}
	agreeWithPion(t, &m)
	if !m.CheckIntegrity(testKey) || m.CheckIntegrity([]byte("other")) {
		t.Fatal("our MESSAGE-INTEGRITY check")
	}
	if v, _ := m.Get(AttrReservationToken); !bytes.Equal(v, token[:]) {
		t.Fatalf("RESERVATION-TOKEN %x", v)
	}
	assertZeroPadding(t, raw)
}

// garbage returns an empty slice whose backing array is full of 0xAA, to
// prove the Builder zero-fills padding instead of relying on a clean buffer.
func garbage(n int) []byte {
	return bytes.Repeat([]byte{0xAA}, n)[:0]
}

// assertZeroPadding walks raw naively and checks every padding byte is zero
// (RFC 8489 §14: SHOULD be zero on send).
func assertZeroPadding(t *testing.T, raw []byte) {
	t.Helper()
	for off := HeaderSize; off+4 <= len(raw); {
		l := int(binary.BigEndian.Uint16(raw[off+2:]))
		for i := off + 4 + l; i < off+4+padded(l); i++ {
			if raw[i] != 0 {
				t.Fatalf("padding byte %d is %#x", i, raw[i])
			}
		}
		off += 4 + padded(l)
	}
}

func TestBuilderErrorResponseWithPion(t *testing.T) {
	var b Builder
	b.Reset(garbage(256), MessageType(Allocate, Error), testTxID)
	b.AddErrorCode(CodeUnknownAttribute, "")
	b.AddUnknownAttributes([]uint16{0x7777, AttrDontFragment, AttrAccessToken})
	b.AddText(AttrRealm, "example.org")
	b.AddText(AttrNonce, "obMatJos2AAAB3f4a")
	b.AddFingerprint()
	raw, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	pm := pionDecode(t, raw)
	var ec stun.ErrorCodeAttribute
	if err := ec.GetFrom(pm); err != nil || ec.Code != 420 || string(ec.Reason) != "Unknown Attribute" {
		t.Fatalf("pion ERROR-CODE: %v %v", ec, err)
	}
	// pion/stun/v2 cannot be the oracle here: its UnknownAttributes.GetFrom
	// reads 4 bytes per type (attrTypeSize = 4), while RFC 8489 §14.13 lists
	// 16-bit types. Compare pion's raw value with the RFC layout instead.
	if v, err := pm.Get(stun.AttrUnknownAttributes); err != nil || !bytes.Equal(v, []byte{0x77, 0x77, 0x00, 0x1a, 0x00, 0x1b}) {
		t.Fatalf("UNKNOWN-ATTRIBUTES value %x, %v", v, err)
	}
	if err := stun.Fingerprint.Check(pm); err != nil {
		t.Fatal(err)
	}
	assertZeroPadding(t, raw)

	var m Message
	if err := m.Parse(raw); err != nil {
		t.Fatal(err)
	}
	v, _ := m.Get(AttrErrorCode)
	if code, reason, err := DecodeErrorCode(v); code != 420 || string(reason) != "Unknown Attribute" || err != nil {
		t.Fatalf("DecodeErrorCode: %d %q %v", code, reason, err)
	}
	v, _ = m.Get(AttrUnknownAttributes)
	if got, ok := DecodeUnknownAttributes(v, nil); !ok || len(got) != 3 || got[2] != AttrAccessToken {
		t.Fatalf("DecodeUnknownAttributes: %v", got)
	}
}

func TestDefaultReasonsWithPion(t *testing.T) {
	codes := []int{300, 400, 401, 403, 420, 437, 438, 440, 441, 442, 443, 486, 500, 508}
	for _, code := range codes {
		var b Builder
		b.Reset(make([]byte, 0, 128), MessageType(Refresh, Error), testTxID)
		b.AddErrorCode(code, "")
		raw, err := b.Bytes()
		if err != nil {
			t.Fatalf("%d: %v", code, err)
		}
		var ec stun.ErrorCodeAttribute
		if err := ec.GetFrom(pionDecode(t, raw)); err != nil || int(ec.Code) != code || string(ec.Reason) != DefaultReason(code) || DefaultReason(code) == "" {
			t.Errorf("%d: pion reads %v, %v", code, ec, err)
		}
	}
	if DefaultReason(CodeUnauthenticated) != "Unauthenticated" || DefaultReason(CodeAddressFamilyNotSupported) != "Address Family not Supported" {
		t.Error("RFC 8489 §14.8 / RFC 8656 §19 wording")
	}
}

// naiveMAC computes an integrity value the long way: copy the message up to
// the attribute, patch the copy's Length, HMAC it (RFC 8489 §14.5, §14.6).
func naiveMAC(raw []byte, at, size int) []byte {
	c := append([]byte(nil), raw[:at]...)
	binary.BigEndian.PutUint16(c[2:4], uint16(at+4+size-HeaderSize))
	h := hmac.New(sha256.New, testKey)
	h.Write(c)
	return h.Sum(nil)
}

func TestIntegritySHA256(t *testing.T) {
	var b Builder
	b.Reset(make([]byte, 0, 256), MessageType(ChannelBind, Request), testTxID)
	b.AddChannelNumber(0x4001)
	b.AddIntegrity(testKey)
	b.AddIntegritySHA256(testKey)
	b.AddFingerprint()
	raw, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var m Message
	if err := m.Parse(raw); err != nil {
		t.Fatal(err)
	}
	if !m.CheckIntegrity(testKey) || !m.CheckIntegritySHA256(testKey) {
		t.Fatal("integrity checks")
	}
	if m.CheckIntegritySHA256([]byte("wrong")) {
		t.Fatal("SHA-256 check passes with a wrong key")
	}
	v, _ := m.Get(AttrMessageIntegritySHA256)
	if !bytes.Equal(v, naiveMAC(raw, m.IntegritySHA256At, 32)) {
		t.Fatal("MESSAGE-INTEGRITY-SHA256 differs from the naive computation")
	}
	if err := stun.NewShortTermIntegrity(string(testKey)).Check(pionDecode(t, raw)); err != nil {
		t.Fatalf("pion MESSAGE-INTEGRITY with MI-SHA256 after it: %v", err)
	}
	agreeWithPion(t, &m)

	// A truncated (16-byte) MESSAGE-INTEGRITY-SHA256 is refused: TURN does
	// not allow truncation (RFC 8489 §14.6).
	sum := naiveMAC(raw[:m.IntegritySHA256At], m.IntegritySHA256At, 16)
	trunc := craftAfter(raw[:m.IntegritySHA256At], AttrMessageIntegritySHA256, sum[:16])
	if err := m.Parse(trunc); err != nil {
		t.Fatal(err)
	}
	if m.CheckIntegritySHA256(testKey) {
		t.Fatal("16-byte MESSAGE-INTEGRITY-SHA256 accepted")
	}
}

// craftAfter appends one attribute to msg and fixes the header Length.
func craftAfter(msg []byte, typ uint16, v []byte) []byte {
	out := append([]byte(nil), msg...)
	out = binary.BigEndian.AppendUint16(out, typ)
	out = binary.BigEndian.AppendUint16(out, uint16(len(v)))
	out = append(out, v...)
	out = append(out, make([]byte, padded(len(v))-len(v))...)
	return fixLength(out)
}

func TestIntegrityChecksRefuse(t *testing.T) {
	var b Builder
	b.Reset(make([]byte, 0, 256), MessageType(Refresh, Request), testTxID)
	b.AddUint32(AttrLifetime, 0)
	b.AddText(AttrUsername, "1735689600:alice")
	b.AddIntegrity(testKey)
	good, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	miAt := len(good) - 24
	// Attributes after MESSAGE-INTEGRITY do not change its value (§14.5).
	after := craftAfter(good, AttrSoftware, []byte("appended"))
	tampered := append([]byte(nil), good...)
	tampered[HeaderSize+7] ^= 1
	shortMI := craftAfter(good[:miAt], AttrMessageIntegrity, good[miAt+4:miAt+20])
	tests := []struct {
		name string
		raw  []byte
		want bool
	}{
		{"good", good, true},
		{"attribute appended after MI", after, true},
		{"tampered LIFETIME", tampered, false},
		{"16-byte MI", shortMI, false},
		{"no MI", good[:miAt], false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := fixLength(append([]byte(nil), tc.raw...))
			var m Message
			if err := m.Parse(raw); err != nil {
				t.Fatal(err)
			}
			before := append([]byte(nil), raw...)
			if got := m.CheckIntegrity(testKey); got != tc.want {
				t.Fatalf("CheckIntegrity = %v", got)
			}
			if !bytes.Equal(before, raw) {
				t.Fatal("CheckIntegrity modified Raw")
			}
			if m.IntegrityAt >= 0 {
				perr := stun.NewShortTermIntegrity(string(testKey)).Check(pionDecode(t, raw))
				if (perr == nil) != tc.want {
					t.Fatalf("pion disagrees: %v", perr)
				}
			}
		})
	}
}

func TestBuilderValueHelpers(t *testing.T) {
	var b Builder
	b.Reset(garbage(256), MessageType(Allocate, Request), testTxID)
	b.AddRequestedTransport(ProtoUDP)
	b.AddAddressFamily(AttrRequestedAddressFamily, FamilyIPv6)
	b.AddAddressFamily(AttrAdditionalAddressFamily, FamilyIPv6)
	b.AddEvenPort(true)
	b.AddChannelNumber(0x4FFF)
	b.AddICMP(3, 4, 1400)
	b.AddAddressErrorCode(FamilyIPv6, CodeInsufficientCapacity, "")
	b.AddAddress(AttrAlternateServer, netip.MustParseAddrPort("192.0.2.9:3478"))
	b.Add(AttrDontFragment, nil)
	raw, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	assertZeroPadding(t, raw)
	var m Message
	if err := m.Parse(raw); err != nil {
		t.Fatal(err)
	}
	agreeWithPion(t, &m)
	get := func(typ uint16) []byte { v, _ := m.Get(typ); return v }
	if p, ok := DecodeRequestedTransport(get(AttrRequestedTransport)); !ok || p != ProtoUDP {
		t.Error("REQUESTED-TRANSPORT")
	}
	if f, ok := DecodeAddressFamily(get(AttrRequestedAddressFamily)); !ok || f != FamilyIPv6 {
		t.Error("REQUESTED-ADDRESS-FAMILY")
	}
	if f, ok := DecodeAddressFamily(get(AttrAdditionalAddressFamily)); !ok || f != FamilyIPv6 {
		t.Error("ADDITIONAL-ADDRESS-FAMILY")
	}
	if r, ok := DecodeEvenPort(get(AttrEvenPort)); !ok || !r {
		t.Error("EVEN-PORT")
	}
	if ch, ok := DecodeChannelNumber(get(AttrChannelNumber)); !ok || ch != 0x4FFF || !bytes.Equal(get(AttrChannelNumber)[2:], []byte{0, 0}) {
		t.Error("CHANNEL-NUMBER")
	}
	if !bytes.Equal(get(AttrICMP), []byte{0, 0, 3, 4, 0, 0, 0x05, 0x78}) {
		t.Errorf("ICMP bytes %x (RFC 8656 §18.13 layout)", get(AttrICMP))
	}
	if !bytes.Equal(get(AttrAddressErrorCode)[:4], []byte{2, 0, 5, 8}) {
		t.Errorf("ADDRESS-ERROR-CODE bytes %x (RFC 8656 §18.12 layout)", get(AttrAddressErrorCode))
	}
	if f, code, reason, err := DecodeAddressErrorCode(get(AttrAddressErrorCode)); err != nil || f != FamilyIPv6 || code != 508 || string(reason) != "Insufficient Capacity" {
		t.Error("ADDRESS-ERROR-CODE")
	}
	var alt stun.MappedAddress
	if err := alt.GetFromAs(pionDecode(t, raw), stun.AttrAlternateServer); err != nil || alt.String() != "192.0.2.9:3478" {
		t.Errorf("pion ALTERNATE-SERVER %v %v", alt, err)
	}
	if ap, err := DecodeAddress(get(AttrAlternateServer)); err != nil || ap.String() != "192.0.2.9:3478" {
		t.Errorf("ALTERNATE-SERVER %v %v", ap, err)
	}
	if v, ok := m.Get(AttrDontFragment); !ok || len(v) != 0 {
		t.Error("DONT-FRAGMENT")
	}
}

// TestICMPDataIndication builds the RFC 8656 §11.5 indication: XOR-PEER-ADDRESS
// and ICMP, no DATA.
func TestICMPDataIndication(t *testing.T) {
	peer := netip.MustParseAddrPort("[2001:db8::99]:5000")
	var b Builder
	b.Reset(make([]byte, 0, 64), MessageType(Data, Indication), testTxID)
	b.AddXORAddress(AttrXORPeerAddress, peer)
	b.AddICMP(2, 0, 1280) // ICMPv6 Packet Too Big, MTU
	raw, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var m Message
	if err := m.Parse(raw); err != nil {
		t.Fatal(err)
	}
	agreeWithPion(t, &m)
	v, _ := m.Get(AttrXORPeerAddress)
	if got, err := DecodeXORAddress(v, m.TransactionID); err != nil || got != peer {
		t.Fatalf("peer %v %v", got, err)
	}
	v, _ = m.Get(AttrICMP)
	if typ, code, mtu, ok := DecodeICMP(v); !ok || typ != 2 || code != 0 || mtu != 1280 || m.Contains(AttrData) {
		t.Fatal("ICMP attribute")
	}
}

func TestBuilderErrors(t *testing.T) {
	big := make([]byte, 0xFFFF+1)
	tests := []struct {
		name  string
		cap   int
		typ   uint16
		build func(b *Builder)
		want  Reason
	}{
		{"buffer below header", HeaderSize - 1, bindingRequest, func(*Builder) {}, ReasonBufferTooSmall},
		{"attribute does not fit", 27, bindingRequest, func(b *Builder) { b.AddUint32(AttrLifetime, 1) }, ReasonBufferTooSmall},
		{"padding does not fit", 25, bindingRequest, func(b *Builder) { b.AddEvenPort(false) }, ReasonBufferTooSmall},
		{"MI does not fit", 40, bindingRequest, func(b *Builder) { b.AddIntegrity(testKey) }, ReasonBufferTooSmall},
		{"top bits in type", 64, 0x4001, func(*Builder) {}, ReasonBadType},
		{"value over 65535", 1 << 17, bindingRequest, func(b *Builder) { b.Add(AttrData, big) }, ReasonValueTooLong},
		{"message over 65535", 1 << 18, bindingRequest, func(b *Builder) {
			b.Add(AttrData, big[:40000])
			b.Add(AttrData, big[:40000])
		}, ReasonValueTooLong},
		{"attribute after MI", 128, bindingRequest, func(b *Builder) { b.AddIntegrity(testKey); b.AddText(AttrSoftware, "x") }, ReasonBadOrder},
		{"MI after MI", 128, bindingRequest, func(b *Builder) { b.AddIntegrity(testKey); b.AddIntegrity(testKey) }, ReasonBadOrder},
		{"MI after MI-SHA256", 128, bindingRequest, func(b *Builder) { b.AddIntegritySHA256(testKey); b.AddIntegrity(testKey) }, ReasonBadOrder},
		{"MI after FINGERPRINT", 128, bindingRequest, func(b *Builder) { b.AddFingerprint(); b.AddIntegrity(testKey) }, ReasonBadOrder},
		{"FINGERPRINT twice", 128, bindingRequest, func(b *Builder) { b.AddFingerprint(); b.AddFingerprint() }, ReasonBadOrder},
		{"raw MI then attribute", 128, bindingRequest, func(b *Builder) { b.Add(AttrMessageIntegrity, make([]byte, 20)); b.AddUint32(AttrLifetime, 1) }, ReasonBadOrder},
		{"invalid address", 128, bindingRequest, func(b *Builder) { b.AddXORAddress(AttrXORPeerAddress, netip.AddrPort{}) }, ReasonBadAddress},
		{"invalid plain address", 128, bindingRequest, func(b *Builder) { b.AddAddress(AttrAlternateServer, netip.AddrPort{}) }, ReasonBadAddress},
		{"code 299", 128, bindingRequest, func(b *Builder) { b.AddErrorCode(299, "x") }, ReasonBadErrorCode},
		{"code 700", 128, bindingRequest, func(b *Builder) { b.AddErrorCode(700, "x") }, ReasonBadErrorCode},
		{"code without default reason", 128, bindingRequest, func(b *Builder) { b.AddErrorCode(499, "") }, ReasonBadErrorCode},
		{"reason of 128 characters", 1024, bindingRequest, func(b *Builder) { b.AddErrorCode(400, strings.Repeat("x", 128)) }, ReasonBadText},
		{"reason not UTF-8", 128, bindingRequest, func(b *Builder) { b.AddAddressErrorCode(FamilyIPv4, 440, "\xff") }, ReasonBadText},
		{"USERNAME of 509 bytes", 1024, bindingRequest, func(b *Builder) { b.AddText(AttrUsername, strings.Repeat("u", 509)) }, ReasonBadText},
		{"REALM of 128 characters", 1024, bindingRequest, func(b *Builder) { b.AddText(AttrRealm, strings.Repeat("r", 128)) }, ReasonBadText},
		{"NONCE with a quote", 128, bindingRequest, func(b *Builder) { b.AddText(AttrNonce, `a"b`) }, ReasonBadText},
		{"first error sticks", 24, bindingRequest, func(b *Builder) {
			b.AddXORAddress(AttrXORPeerAddress, netip.AddrPort{})
			b.AddUint32(AttrLifetime, 1)
		}, ReasonBadAddress},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b Builder
			b.Reset(make([]byte, 0, tc.cap), tc.typ, testTxID)
			tc.build(&b)
			b.AddText(AttrSoftware, "after the error") // must be a no-op
			raw, err := b.Bytes()
			if err != tc.want || raw != nil || b.Err() != tc.want {
				t.Fatalf("Bytes = %x, %v; Err %v; want %v", raw, err, b.Err(), tc.want)
			}
		})
	}
	var zero Builder
	zero.AddUint32(AttrLifetime, 1)
	if _, err := zero.Bytes(); err != ReasonBufferTooSmall {
		t.Fatalf("zero Builder: %v", err)
	}
}

func TestBuilderReuse(t *testing.T) {
	var b Builder
	buf := make([]byte, 0, 128)
	b.Reset(buf, bindingRequest, testTxID)
	b.AddIntegrity(testKey)
	b.AddErrorCode(1, "")
	b.Reset(buf, MessageType(Binding, Success), testTxID)
	b.AddXORAddress(AttrXORMappedAddress, netip.MustParseAddrPort("192.0.2.1:1"))
	raw, err := b.Bytes()
	if err != nil || len(raw) != HeaderSize+12 {
		t.Fatalf("Reset does not clear state: %x %v", raw, err)
	}
	var m Message
	if err := m.Parse(raw); err != nil || m.Class != Success {
		t.Fatal(err)
	}
}
