package stunmsg

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/pion/stun/v2"
)

// FuzzParse: Parse never panics; whatever it accepts, pion decodes to the
// same type, transaction ID and recorded attributes; the recorded
// attributes rebuild into a message that parses to the same list (and to
// the same bytes when nothing was skipped); every value decoder is total.
// Each input is tried as is and steered past the header checks (cookie,
// top bits, Length) so the fuzzer spends its time on attributes.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, data)
		if len(data) >= HeaderSize {
			steered := bytes.Clone(data[:len(data)&^3])
			steered[0] &= 0x3F
			binary.BigEndian.PutUint32(steered[4:8], MagicCookie)
			binary.BigEndian.PutUint16(steered[2:4], uint16(len(steered)-HeaderSize))
			checkParse(t, steered)
			if len(steered)+8-HeaderSize <= maxMessageLength {
				checkParse(t, withFingerprint(steered))
			}
		}
	})
}

func checkParse(t *testing.T, data []byte) {
	var m Message
	err := m.Parse(data)
	if err != nil {
		r, isReason := err.(Reason)
		if !isReason || r == ReasonOK || r.String() == "unknown" {
			t.Fatalf("Parse returned %#v", err)
		}
		if m.Raw != nil || len(m.Attrs()) != 0 {
			t.Fatal("failed Parse left attributes")
		}
		return
	}
	agreeWithPion(t, &m)
	decodeAllValues(&m)
	var unknown [MaxAttributes]uint16
	for _, u := range m.UnknownRequired(unknown[:0]) {
		if !IsComprehensionRequired(u) || !m.Contains(u) {
			t.Fatalf("UnknownRequired lists %#04x", u)
		}
	}
	if m.IntegrityAt >= 0 && m.IntegritySHA256At < 0 {
		ours := m.CheckIntegrity(testKey)
		theirs := stun.NewShortTermIntegrity(string(testKey)).Check(pionDecode(t, data)) == nil
		if ours != theirs {
			t.Fatalf("MESSAGE-INTEGRITY: ours %v, pion %v", ours, theirs)
		}
	}
	m.CheckIntegritySHA256(testKey)

	rebuilt := rebuild(t, &m)
	var again Message
	if err := again.Parse(rebuilt); err != nil {
		t.Fatalf("rebuilt message refused: %v\n%x", err, rebuilt)
	}
	if again.Type != m.Type || again.TransactionID != m.TransactionID || len(again.Attrs()) != len(m.Attrs()) {
		t.Fatalf("rebuilt header or attribute count differs\n%x\n%x", data, rebuilt)
	}
	for i, a := range again.Attrs() {
		b := m.Attrs()[i]
		// FINGERPRINT is recomputed, and covers the zeroed padding.
		if a.Type != b.Type || a.Type != AttrFingerprint && !bytes.Equal(again.Value(a), m.Value(b)) {
			t.Fatalf("rebuilt attribute %d differs", i)
		}
	}
	// Equal lengths mean nothing was skipped: then the bytes match the
	// input with zero padding, and FINGERPRINT too if the padding was zero.
	if len(rebuilt) == len(data) {
		want, got := zeroPadding(data), rebuilt
		if m.FingerprintAt >= 0 && !bytes.Equal(want, data) {
			want, got = want[:m.FingerprintAt], got[:m.FingerprintAt]
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("rebuilt bytes differ\n%x\n%x", want, got)
		}
	}
}

// rebuild writes m's recorded attributes with Builder, recomputing
// FINGERPRINT.
func rebuild(t *testing.T, m *Message) []byte {
	var b Builder
	b.Reset(make([]byte, 0, len(m.Raw)+8), m.Type, m.TransactionID)
	for _, a := range m.Attrs() {
		if a.Type != AttrFingerprint {
			b.Add(a.Type, m.Value(a))
		}
	}
	if m.FingerprintAt >= 0 {
		b.AddFingerprint()
	}
	raw, err := b.Bytes()
	if err != nil {
		t.Fatalf("Builder refuses attributes Parse accepted: %v", err)
	}
	return raw
}

// zeroPadding returns a copy of a well-framed message with its attribute
// padding zeroed, walking it naively.
func zeroPadding(raw []byte) []byte {
	out := bytes.Clone(raw)
	for off := HeaderSize; off+4 <= len(out); {
		l := int(binary.BigEndian.Uint16(out[off+2:]))
		end := min(off+4+padded(l), len(out))
		clear(out[min(off+4+l, end):end])
		off = end
	}
	return out
}

// decodeAllValues runs every value decoder on every recorded value; only
// panics matter here.
func decodeAllValues(m *Message) {
	var types [MaxAttributes]uint16
	for _, a := range m.Attrs() {
		v := m.Value(a)
		DecodeXORAddress(v, m.TransactionID)
		DecodeAddress(v)
		DecodeUint32(v)
		DecodeChannelNumber(v)
		DecodeRequestedTransport(v)
		DecodeAddressFamily(v)
		DecodeEvenPort(v)
		DecodeReservationToken(v)
		DecodeICMP(v)
		DecodeErrorCode(v)
		DecodeAddressErrorCode(v)
		DecodeUnknownAttributes(v, types[:0])
		DecodeText(a.Type, v)
		ValidNonce(v)
	}
}

// FuzzChannelData compares ParseChannelData with the RFC 8656 §12.4 rule
// written out directly, and round-trips accepted messages.
func FuzzChannelData(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		ch, payload, ok := ParseChannelData(data)
		wantOK := len(data) >= 4 &&
			data[0] >= 0x40 && data[0] <= 0x4F &&
			len(data)-4 >= int(data[2])<<8|int(data[3])
		if ok != wantOK {
			t.Fatalf("ParseChannelData ok=%v, model %v", ok, wantOK)
		}
		if !ok {
			return
		}
		if ch != uint16(data[0])<<8|uint16(data[1]) || !bytes.Equal(payload, data[4:4+len(payload)]) || len(payload) != int(data[2])<<8|int(data[3]) {
			t.Fatal("channel or payload differ from the model")
		}
		if Classify(data) != KindChannelData {
			t.Fatal("Classify disagrees")
		}
		total, fok := FrameLength(data)
		if !fok || total != ChannelDataPaddedLen(len(payload)) {
			t.Fatalf("FrameLength = %d, %v", total, fok)
		}
		out := make([]byte, 4+len(payload))
		copy(out[4:], payload)
		if !PutChannelDataHeader(out, ch, len(payload)) {
			t.Fatal("PutChannelDataHeader refuses a parsed header")
		}
		ch2, p2, ok2 := ParseChannelData(out)
		if !ok2 || ch2 != ch || !bytes.Equal(p2, payload) || !bytes.Equal(out[:4], data[:4]) {
			t.Fatal("round trip differs")
		}
	})
}

// FuzzXORAddress compares DecodeXORAddress with the length/family rule and,
// for accepted values, with pion's decoder and our encoder.
func FuzzXORAddress(f *testing.F) {
	f.Fuzz(func(t *testing.T, v []byte, id []byte) {
		var txid [12]byte
		copy(txid[:], id)
		ap, err := DecodeXORAddress(v, txid)
		wantOK := len(v) == 8 && v[1] == 1 || len(v) == 20 && v[1] == 2
		if (err == nil) != wantOK {
			t.Fatalf("DecodeXORAddress err=%v, model ok=%v", err, wantOK)
		}
		plain, perr := DecodeAddress(v)
		if (perr == nil) != wantOK {
			t.Fatalf("DecodeAddress err=%v", perr)
		}
		if !wantOK {
			return
		}
		if plain.Port() != ap.Port()^0x2112 {
			t.Fatal("XOR and plain decodings disagree on the port")
		}
		var b Builder
		b.Reset(make([]byte, 0, 64), MessageType(Data, Indication), txid)
		b.AddXORAddress(AttrXORPeerAddress, ap)
		raw, berr := b.Bytes()
		if berr != nil {
			t.Fatal(berr)
		}
		if !bytes.Equal(raw[HeaderSize+5:], v[1:]) {
			t.Fatalf("re-encoded %x, got %x", raw[HeaderSize+4:], v)
		}
		pm := &stun.Message{Raw: bytes.Clone(raw)}
		if err := pm.Decode(); err != nil {
			t.Fatal(err)
		}
		var pa stun.XORMappedAddress
		if err := pa.GetFromAs(pm, stun.AttrXORPeerAddress); err != nil {
			t.Fatal(err)
		}
		pip, _ := netip.AddrFromSlice(pa.IP)
		if v[1] == 1 {
			pip = pip.Unmap()
		}
		if pip != ap.Addr() || pa.Port != int(ap.Port()) {
			t.Fatalf("pion %v:%d, ours %v", pa.IP, pa.Port, ap)
		}
	})
}

// FuzzFrameLength compares FrameLength with the RFC 8489 §6.2.2 / RFC 8656
// §12.5 rule written out directly.
func FuzzFrameLength(f *testing.F) {
	f.Fuzz(func(t *testing.T, head []byte) {
		total, ok := FrameLength(head)
		var want int
		wantOK := false
		if len(head) >= 4 {
			l := int(head[2])<<8 | int(head[3])
			switch {
			case head[0] < 0x40 && l%4 == 0:
				want, wantOK = 20+l, true
			case head[0] >= 0x40 && head[0] <= 0x4F:
				want, wantOK = 4+(l+3)/4*4, true
			}
		}
		if ok != wantOK || total != want {
			t.Fatalf("FrameLength = %d, %v; model %d, %v", total, ok, want, wantOK)
		}
		if ok && (total%4 != 0 || total > MaxFrameLength) {
			t.Fatalf("stream frame of %d bytes", total)
		}
		if ok && len(head) >= total && Classify(head) == KindChannelData {
			if _, _, cok := ParseChannelData(head[:total]); !cok {
				t.Fatal("framed ChannelData does not parse")
			}
		}
	})
}
