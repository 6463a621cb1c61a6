package relay

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// Conformance of the STUN layer (RFC 8489 §5–§7, §14): framing checks,
// demultiplexing, Binding, unknown attributes, FINGERPRINT and
// retransmissions, against a relay on loopback.

// TestConformanceFramingIsSilent sends every kind of input RFC 8489 §6.3
// says to discard silently and checks that nothing comes back, that the
// drop is counted under the expected reason, and that the relay still
// answers afterwards (RFC 8489 §5, §6.3, §14; RFC 8656 §12).
func TestConformanceFramingIsSilent(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	txid := newTxID()
	software := rawAttr{stunmsg.AttrSoftware, []byte("abc")}
	valid := encodeRaw(stunmsg.MessageType(stunmsg.Binding, stunmsg.Request), txid, software)
	mutate := func(change func(b []byte) []byte) []byte {
		return change(append([]byte(nil), valid...))
	}
	withFingerprint := func(after ...rawAttr) []byte {
		fpPlaceholder := rawAttr{stunmsg.AttrFingerprint, make([]byte, 4)}
		attrs := append([]rawAttr{software, fpPlaceholder}, after...)
		b := encodeRaw(stunmsg.MessageType(stunmsg.Binding, stunmsg.Request), txid, attrs...)
		fpAt := stunmsg.HeaderSize + 8
		copy(b[fpAt+4:], fingerprintValue(b[:fpAt]))
		return b
	}
	typed := func(m stunmsg.Method, cl stunmsg.Class) []byte {
		return encodeRaw(stunmsg.MessageType(m, cl), newTxID(), software)
	}
	many := make([]rawAttr, stunmsg.MaxAttributes+1)
	for i := range many {
		many[i] = rawAttr{stunmsg.AttrSoftware, []byte("x")}
	}

	cases := []struct {
		name string
		rfc  string
		in   []byte
		drop Drop
	}{
		{"empty datagram", "RFC 8656 §12", []byte{}, DropNotTURN},
		{"one byte", "RFC 8489 §6.3", []byte{0x00}, DropMalformedSTUN},
		{"19-byte header", "RFC 8489 §6.3", valid[:19], DropMalformedSTUN},
		{"top bits 11", "RFC 8489 §5", mutate(func(b []byte) []byte { b[0] |= 0xC0; return b }), DropNotTURN},
		{"top bits 10", "RFC 8489 §5", mutate(func(b []byte) []byte { b[0] |= 0x80; return b }), DropNotTURN},
		{"top bits 01 read as ChannelData", "RFC 8489 §5, RFC 8656 §12.6", mutate(func(b []byte) []byte { b[0] |= 0x40; return b }), DropNoAllocation},
		{"bad magic cookie", "RFC 8489 §5", mutate(func(b []byte) []byte { b[5] ^= 0xFF; return b }), DropMalformedSTUN},
		{"RFC 3489 message without cookie", "RFC 8656 §5", mutate(func(b []byte) []byte { copy(b[4:8], []byte{1, 2, 3, 4}); return b }), DropMalformedSTUN},
		{"length not a multiple of 4", "RFC 8489 §5", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[2:4], 6)
			return b[:26]
		}), DropMalformedSTUN},
		{"length beyond the datagram", "RFC 8489 §6.3", mutate(func(b []byte) []byte { return b[:len(b)-4] }), DropMalformedSTUN},
		{"trailing bytes after the message", "RFC 8489 §6.3", mutate(func(b []byte) []byte { return append(b, 0, 0, 0, 0) }), DropMalformedSTUN},
		{"attribute overruns the message", "RFC 8489 §14", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[22:24], 100)
			return b
		}), DropMalformedSTUN},
		{"more attributes than the parser bound", "RFC 8489 §6.3", encodeRaw(stunmsg.MessageType(stunmsg.Binding, stunmsg.Request), txid, many...), DropMalformedSTUN},
		{"bad FINGERPRINT value", "RFC 8489 §14.7", func() []byte { b := withFingerprint(); b[len(b)-1] ^= 1; return b }(), DropMalformedSTUN},
		{"FINGERPRINT not last", "RFC 8489 §14.7", withFingerprint(software), DropMalformedSTUN},
		{"FINGERPRINT of the wrong size", "RFC 8489 §14.7", encodeRaw(stunmsg.MessageType(stunmsg.Binding, stunmsg.Request), txid, rawAttr{stunmsg.AttrFingerprint, []byte{1, 2}}), DropMalformedSTUN},
		{"Binding success response", "RFC 8489 §6.3", typed(stunmsg.Binding, stunmsg.Success), DropUnexpectedClass},
		{"Binding error response", "RFC 8489 §6.3", typed(stunmsg.Binding, stunmsg.Error), DropUnexpectedClass},
		{"Allocate success response", "RFC 8489 §6.3", typed(stunmsg.Allocate, stunmsg.Success), DropUnexpectedClass},
		{"unknown method request", "RFC 8489 §6.3", typed(stunmsg.Method(0x0FF), stunmsg.Request), DropUnexpectedClass},
		{"unknown method indication", "RFC 8489 §6.3", typed(stunmsg.Method(0x0FF), stunmsg.Indication), DropUnexpectedClass},
		{"Send as a request", "RFC 8656 §17", typed(stunmsg.Send, stunmsg.Request), DropUnexpectedClass},
		{"Data indication to the server", "RFC 8656 §11.3", typed(stunmsg.Data, stunmsg.Indication), DropUnexpectedClass},
		{"Data request", "RFC 8656 §17", typed(stunmsg.Data, stunmsg.Request), DropUnexpectedClass},
		{"Allocate indication", "RFC 8656 §17", typed(stunmsg.Allocate, stunmsg.Indication), DropUnexpectedClass},
		{"CreatePermission indication", "RFC 8656 §17", typed(stunmsg.CreatePermission, stunmsg.Indication), DropUnexpectedClass},
		{"RTP-like first byte 0x80", "RFC 7983", append([]byte{0x80, 0x60}, bytes.Repeat([]byte{7}, 30)...), DropNotTURN},
		{"reserved channel range 0x5000", "RFC 8656 §12", channelDataRaw(0x5000, []byte("data")), DropNotTURN},
		{"channel 0xFFFF", "RFC 8656 §12", channelDataRaw(0xFFFF, []byte("data")), DropNotTURN},
		// RFC 7983 would classify 0x16 as DTLS; RFC 8489 §6.3 rejects it
		// as STUN (no magic cookie). Either way it is dropped.
		{"DTLS-like first byte 0x16", "RFC 7983", append([]byte{0x16, 0xFE, 0xFD}, bytes.Repeat([]byte{1}, 40)...), DropNotTURN},
	}
	for _, tc := range cases {
		t.Run(tc.rfc+": "+tc.name, func(t *testing.T) {
			c.t = t
			before := takeDrops(srv)
			c.sendRaw(tc.in)
			c.confirmNothingElse()
			if tc.drop == DropNotTURN {
				before.requireDroppedAny(t, srv, DropNotTURN, DropMalformedSTUN)
				return
			}
			before.requireDropped(t, srv, tc.drop, 1)
		})
	}
}

// channelDataRaw encodes a ChannelData header and payload without the
// channel-range check of PutChannelDataHeader, for reserved numbers.
func channelDataRaw(ch uint16, payload []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, ch)
	b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
	return append(b, payload...)
}

// TestConformanceBindingMapsSource checks the Binding success response over
// IPv4 and IPv6 listeners: XOR-MAPPED-ADDRESS is the request's source, the
// response comes from the address the request went to, carries neither
// SOFTWARE (an unauthenticated answer, docs/protocol.md) nor integrity
// (RFC 8489 §6.3.1.1, §6.3.1.2, §14.2, §14.14).
func TestConformanceBindingMapsSource(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, withUDP6Listener)
	for _, tc := range []struct {
		network string
		server  netip.AddrPort
	}{
		{"udp4", srv.UDPAddrs()[0]},
		{"udp6", srv.UDPAddrs()[1]},
	} {
		t.Run(tc.network, func(t *testing.T) {
			c := newRawClient(t, tc.server, tc.network)
			txid := newTxID()
			c.sendRaw(c.build(stunmsg.Binding, stunmsg.Request, txid, false, nil))
			c.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			n, from, err := c.conn.ReadFromUDPAddrPort(c.buf)
			if err != nil {
				t.Fatal(err)
			}
			if from != tc.server {
				t.Fatalf("response from %s, want %s (RFC 8489 §6.3.1.2)", from, tc.server)
			}
			var m stunmsg.Message
			if err := m.Parse(c.buf[:n]); err != nil {
				t.Fatal(err)
			}
			if m.Method != stunmsg.Binding || m.Class != stunmsg.Success || m.TransactionID != txid {
				t.Fatalf("got %s %s, want a Binding success for the same transaction", m.Method, m.Class)
			}
			if got := xorAddr(t, &m, stunmsg.AttrXORMappedAddress); got != c.addr() {
				t.Fatalf("XOR-MAPPED-ADDRESS %s, want the source %s", got, c.addr())
			}
			requireNoSoftware(t, &m)
			if m.IntegrityAt >= 0 || m.IntegritySHA256At >= 0 || m.FingerprintAt >= 0 {
				t.Fatal("unauthenticated Binding response carries integrity or an unrequested FINGERPRINT")
			}
		})
	}
}

// TestConformanceBindingFingerprintEcho: a request with FINGERPRINT gets a
// response with a valid FINGERPRINT as its last attribute, success or error
// (RFC 8489 §7, §14.7).
func TestConformanceBindingFingerprintEcho(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	for _, tc := range []struct {
		name  string
		extra msgBuilder
		code  int
	}{
		{"success", nil, 0},
		{"420 error", func(b *stunmsg.Builder) { b.Add(0x7777, []byte{1}) }, 420},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			req := c.build(stunmsg.Binding, stunmsg.Request, newTxID(), false, func(b *stunmsg.Builder) {
				if tc.extra != nil {
					tc.extra(b)
				}
				b.AddFingerprint()
			})
			m := c.roundTrip(req)
			requireCode(t, m, tc.code)
			// Parse already verified the CRC and that it is last.
			if m.FingerprintAt < 0 || m.FingerprintAt != len(m.Raw)-8 {
				t.Fatalf("FINGERPRINT at %d in a %d-byte response, want last", m.FingerprintAt, len(m.Raw))
			}
		})
	}
}

// TestConformanceBindingUnknownAttributes covers RFC 8489 §6.3.1.1 and
// §14.13: unknown comprehension-required attributes are listed once each in
// a 420, comprehension-optional ones are ignored, the ICE attributes and an
// all-zero CHANGE-REQUEST are understood, attributes after
// MESSAGE-INTEGRITY do not count, and even a long list keeps the response
// under 548 bytes (RFC 8489 §6.1, §6.3, §14.5, §14.13; the ICE exceptions
// are in docs/protocol.md, "Strictness choices").
func TestConformanceBindingUnknownAttributes(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	bogusMI := make([]byte, 20)
	many := make([]rawAttr, 60)
	for i := range many {
		many[i] = rawAttr{uint16(0x7000 + i), []byte{byte(i)}}
	}
	cases := []struct {
		name    string
		attrs   []rawAttr
		unknown []uint16 // nil: success expected
	}{
		{"one unknown CR", []rawAttr{{0x7777, []byte("x")}}, []uint16{0x7777}},
		{"duplicates listed once, in order", []rawAttr{{0x7777, nil}, {stunmsg.AttrAccessToken, []byte("t")}, {0x7777, nil}}, []uint16{0x7777, stunmsg.AttrAccessToken}},
		{"unimplemented USERHASH", []rawAttr{{stunmsg.AttrUserhash, make([]byte, 32)}}, []uint16{stunmsg.AttrUserhash}},
		{"unimplemented CONNECTION-ID", []rawAttr{{stunmsg.AttrConnectionID, make([]byte, 4)}}, []uint16{stunmsg.AttrConnectionID}},
		{"CHANGE-REQUEST asking for a change", []rawAttr{{stunmsg.AttrChangeRequest, []byte{0, 0, 0, 6}}}, []uint16{stunmsg.AttrChangeRequest}},
		{"CHANGE-REQUEST all zero", []rawAttr{{stunmsg.AttrChangeRequest, []byte{0, 0, 0, 0}}}, nil},
		{"unknown CO ignored", []rawAttr{{0x8777, []byte("ignored")}, {stunmsg.AttrMobilityTicket, []byte("m")}}, nil},
		{"ICE attributes", []rawAttr{
			{stunmsg.AttrPriority, []byte{0x6e, 0, 0x01, 0xff}},
			{stunmsg.AttrUseCandidate, nil},
			{stunmsg.AttrICEControlling, make([]byte, 8)},
		}, nil},
		{"unknown CR after MESSAGE-INTEGRITY ignored", []rawAttr{{stunmsg.AttrMessageIntegrity, bogusMI}, {0x7777, []byte("x")}}, nil},
		{"sixty unknown", many, func() []uint16 {
			var l []uint16
			for _, a := range many {
				l = append(l, a.typ)
			}
			return l
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			m := c.roundTrip(encodeRaw(stunmsg.MessageType(stunmsg.Binding, stunmsg.Request), newTxID(), tc.attrs...))
			requireNoSoftware(t, m)
			if tc.unknown == nil {
				requireCode(t, m, 0)
				xorAddr(t, m, stunmsg.AttrXORMappedAddress)
				return
			}
			requireCode(t, m, 420)
			if len(m.Raw) >= 548 {
				t.Fatalf("420 response is %d bytes; RFC 8489 §6.1 wants < 548", len(m.Raw))
			}
			v, ok := m.Get(stunmsg.AttrUnknownAttributes)
			if !ok {
				t.Fatal("420 without UNKNOWN-ATTRIBUTES")
			}
			listed, ok := stunmsg.DecodeUnknownAttributes(v, nil)
			if !ok {
				t.Fatal("malformed UNKNOWN-ATTRIBUTES")
			}
			want := tc.unknown
			if len(listed) < len(want) {
				// A bounded list is allowed; it must be a prefix.
				want = want[:len(listed)]
			}
			if len(listed) == 0 || !slices.Equal(listed, want) {
				t.Fatalf("UNKNOWN-ATTRIBUTES %#04x, want %#04x", listed, tc.unknown)
			}
		})
	}
}

// TestConformanceBindingICERequest sends an RFC 5769 §2.1-style ICE
// connectivity check (USERNAME, PRIORITY, ICE-CONTROLLED, short-term
// MESSAGE-INTEGRITY, FINGERPRINT): a TURN server that is also the STUN
// server must answer it, not 420 it (docs/protocol.md, "Strictness
// choices"; RFC 8489 §6.3.1.1).
func TestConformanceBindingICERequest(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	m := c.roundTrip(c.build(stunmsg.Binding, stunmsg.Request, newTxID(), false, func(b *stunmsg.Builder) {
		b.Add(stunmsg.AttrSoftware, []byte("STUN test client"))
		b.AddUint32(stunmsg.AttrPriority, 0x6e0001ff)
		b.Add(stunmsg.AttrICEControlled, []byte{0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36})
		b.Add(stunmsg.AttrUseCandidate, nil)
		b.Add(stunmsg.AttrUsername, []byte("evtj:h6vY"))
		b.AddIntegrity([]byte("VOkJxbRl1RmTxUk/WvJxBt"))
		b.AddFingerprint()
	}))
	requireCode(t, m, 0)
	if got := xorAddr(t, m, stunmsg.AttrXORMappedAddress); got != c.addr() {
		t.Fatalf("XOR-MAPPED-ADDRESS %s, want %s", got, c.addr())
	}
	if m.FingerprintAt < 0 {
		t.Fatal("no FINGERPRINT in the response to a request with one")
	}
}

// TestConformanceBindingIndicationIsSilent: a Binding indication only keeps
// NAT bindings alive and is never answered (RFC 8489 §6.3.2).
func TestConformanceBindingIndicationIsSilent(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	c.sendRaw(c.build(stunmsg.Binding, stunmsg.Indication, newTxID(), false, nil))
	c.sendRaw(c.build(stunmsg.Binding, stunmsg.Indication, newTxID(), false, func(b *stunmsg.Builder) { b.AddFingerprint() }))
	c.confirmNothingElse()
}

// TestConformanceBindingRetransmission: a retransmitted request gets the
// same response, served from the transaction cache (RFC 8489 §6.3.1). A
// recomputed Binding answer would be the same bytes, so the test counts the
// answers the cache served: one, for the retransmission only.
func TestConformanceBindingRetransmission(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	req := c.build(stunmsg.Binding, stunmsg.Request, newTxID(), false, nil)
	first := append([]byte(nil), c.roundTrip(req).Raw...)
	if n := srv.Stats().Retransmits; n != 0 {
		t.Fatalf("%d answers from the transaction cache before any retransmission", n)
	}
	second := c.roundTrip(req).Raw
	if !bytes.Equal(first, second) {
		t.Fatalf("retransmission answered differently:\n% x\n% x", first, second)
	}
	if n := srv.Stats().Retransmits; n != 1 {
		t.Fatalf("%d answers from the transaction cache, want 1 (the retransmission)", n)
	}
}

// TestConformancePaddingIgnored: attribute padding bytes are ignored on
// receipt whatever their value (RFC 8489 §14; RFC 5769 §2.1 pads
// with 0x20).
func TestConformancePaddingIgnored(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	for _, pad := range []byte{0x00, 0x20, 0xFF} {
		req := encodeRaw(stunmsg.MessageType(stunmsg.Binding, stunmsg.Request), newTxID(), rawAttr{stunmsg.AttrSoftware, []byte("abc")})
		req[len(req)-1] = pad
		requireCode(t, c.roundTrip(req), 0)
	}
}
