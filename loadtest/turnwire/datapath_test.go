package turnwire

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/pion/stun/v2"
)

func TestParseChannelData(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		ok       bool
		channel  uint16
		wantData []byte
	}{
		{"minimal empty", []byte{0x40, 0x00, 0, 0}, true, 0x4000, []byte{}},
		{"data", []byte{0x40, 0x01, 0, 3, 'a', 'b', 'c'}, true, 0x4001, []byte("abc")},
		{"padding ignored", []byte{0x4f, 0xff, 0, 1, 'a', 0, 0, 0}, true, 0x4fff, []byte("a")},
		{"short header", []byte{0x40, 0x00, 0}, false, 0, nil},
		{"length past end", []byte{0x40, 0x00, 0, 4, 'a'}, false, 0, nil},
		{"reserved channel 0x5000", []byte{0x50, 0x00, 0, 0}, false, 0, nil},
		{"old RFC 5766 channel 0x7fff", []byte{0x7f, 0xff, 0, 0}, false, 0, nil},
		{"stun range", []byte{0x00, 0x01, 0, 0}, false, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch, data, ok := ParseChannelData(tc.in)
			if ok != tc.ok || ch != tc.channel || !bytes.Equal(data, tc.wantData) {
				t.Fatalf("got (%#x, %q, %v), want (%#x, %q, %v)", ch, data, ok, tc.channel, tc.wantData, tc.ok)
			}
		})
	}
}

func TestChannelDataSize(t *testing.T) {
	tests := []struct {
		n      int
		stream bool
		want   int
	}{
		{0, false, 4}, {0, true, 4}, {1, false, 5}, {1, true, 8}, {4, true, 8}, {100, true, 104}, {101, true, 108},
	}
	for _, tc := range tests {
		if got := ChannelDataSize(tc.n, tc.stream); got != tc.want {
			t.Errorf("ChannelDataSize(%d, %v) = %d, want %d", tc.n, tc.stream, got, tc.want)
		}
	}
}

// TestSendIndicationMatchesPion decodes our zero-allocation Send indication
// with pion/stun and compares every field: a differential check of the
// encoder against an independent implementation.
func TestSendIndicationMatchesPion(t *testing.T) {
	peers := []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.1:40000"),
		netip.MustParseAddrPort("[2001:db8::1]:3478"),
	}
	for _, peer := range peers {
		for _, n := range []int{0, 1, 3, 4, 100, 1199} {
			txid := [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
			payload := bytes.Repeat([]byte{0xAB}, n)
			buf := bytes.Repeat([]byte{0xEE}, SendIndicationSize(peer, n)+8)
			off := PutSendIndication(buf, &txid, peer, n)
			copy(buf[off:], payload)
			msg := buf[:SendIndicationSize(peer, n)]

			var m stun.Message
			m.Raw = msg
			if err := m.Decode(); err != nil {
				t.Fatalf("peer %v n %d: pion decode: %v", peer, n, err)
			}
			if m.Type != stun.NewType(stun.MethodSend, stun.ClassIndication) || m.TransactionID != txid {
				t.Fatalf("type %v txid %x", m.Type, m.TransactionID)
			}
			var xa stun.XORMappedAddress
			if err := xa.GetFromAs(&m, stun.AttrXORPeerAddress); err != nil {
				t.Fatal(err)
			}
			if got, _ := netip.AddrFromSlice(xa.IP); got.Unmap() != peer.Addr() || xa.Port != int(peer.Port()) {
				t.Fatalf("peer decoded as %v:%d, want %v", xa.IP, xa.Port, peer)
			}
			data, err := m.Get(stun.AttrData)
			if err != nil || !bytes.Equal(data, payload) {
				t.Fatalf("DATA %x, %v", data, err)
			}
			for i := off + n; i < len(msg); i++ {
				if msg[i] != 0 {
					t.Fatalf("padding byte %d = %#x, want 0", i, msg[i])
				}
			}
		}
	}
}

func buildDataIndication(t testing.TB, payload []byte, extra ...stun.Setter) []byte {
	t.Helper()
	peer := stun.XORMappedAddress{IP: []byte{127, 0, 0, 1}, Port: 5000}
	setters := []stun.Setter{stun.TransactionID, stun.NewType(stun.MethodData, stun.ClassIndication)}
	setters = append(setters, extra...)
	setters = append(setters, xorPeer{peer}, stun.RawAttribute{Type: stun.AttrData, Value: payload})
	m, err := stun.Build(setters...)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

type xorPeer struct{ a stun.XORMappedAddress }

func (p xorPeer) AddTo(m *stun.Message) error { return p.a.AddToAs(m, stun.AttrXORPeerAddress) }

func TestParseDataIndication(t *testing.T) {
	payload := []byte("hello, relay")
	good := buildDataIndication(t, payload)
	withSoftware := buildDataIndication(t, payload, stun.NewSoftware("x"))
	noData, _ := stun.Build(stun.TransactionID, stun.NewType(stun.MethodData, stun.ClassIndication), xorPeer{stun.XORMappedAddress{IP: []byte{1, 2, 3, 4}, Port: 1}})
	truncated := append([]byte(nil), good[:len(good)-4]...)
	be.PutUint16(truncated[2:4], uint16(len(truncated)-HeaderSize))
	badTop := append([]byte(nil), good...)
	badTop[0] |= 0x80
	send := append([]byte(nil), good...)
	be.PutUint16(send[0:2], typeSendIndication)

	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"good", good, true},
		{"extra attribute first", withSoftware, true},
		{"no DATA", noData.Raw, false},
		{"attribute runs past end", truncated, false},
		{"top bits set", badTop, false},
		{"send not data", send, false},
		{"trailing byte", append(append([]byte(nil), good...), 0), false},
		{"header only", good[:HeaderSize], false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, ok := ParseDataIndication(tc.in)
			if ok != tc.ok || (ok && !bytes.Equal(data, payload)) {
				t.Fatalf("got (%q, %v), want ok=%v", data, ok, tc.ok)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	alloc, err := AllocateRequest(nil)
	if err != nil {
		t.Fatal(err)
	}
	success, _ := stun.Build(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassSuccessResponse))
	errResp, _ := stun.Build(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassErrorResponse), stun.CodeUnauthorized)
	tests := []struct {
		name string
		in   []byte
		want Kind
	}{
		{"empty", nil, KindInvalid},
		{"channel data", []byte{0x40, 0, 0, 0}, KindChannelData},
		{"data indication", buildDataIndication(t, []byte("x")), KindDataIndication},
		{"success", success.Raw, KindResponse},
		{"error", errResp.Raw, KindResponse},
		{"request", alloc.Raw, KindOtherSTUN},
		{"rtp-like", []byte{0x80, 0, 0, 0}, KindInvalid},
		{"dtls-like", []byte{0x16, 0xfe, 0xfd, 0}, KindInvalid},
		{"short stun", []byte{0, 1, 0, 0}, KindInvalid},
	}
	for _, tc := range tests {
		if got := Classify(tc.in); got != tc.want {
			t.Errorf("%s: Classify = %v, want %v", tc.name, got, tc.want)
		}
	}
}
