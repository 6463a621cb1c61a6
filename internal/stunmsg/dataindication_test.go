package stunmsg

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
)

var (
	peer4 = netip.MustParseAddrPort("198.51.100.20:40000")
	peer6 = netip.MustParseAddrPort("[2001:db8::20]:40000")
)

func TestDataIndicationOverhead(t *testing.T) {
	for _, tc := range []struct {
		peer netip.AddrPort
		head int
	}{{peer4, 36}, {peer6, 48}, {netip.AddrPort{}, 48}} {
		head, tail := DataIndicationOverhead(tc.peer)
		if head != tc.head || tail != 3 || head > DataIndicationMaxHead {
			t.Errorf("DataIndicationOverhead(%v) = %d, %d", tc.peer, head, tail)
		}
	}
	if DataIndicationMaxHead != 48 {
		t.Errorf("DataIndicationMaxHead = %d, RFC 8656 §13.2 says 48", DataIndicationMaxHead)
	}
}

// TestPutDataIndication builds indications in place for payload lengths
// around the padding boundaries, in a buffer full of garbage, and checks
// them against our parser, pion and an ordinary Builder.
func TestPutDataIndication(t *testing.T) {
	for _, peer := range []netip.AddrPort{peer4, peer6} {
		for n := range 9 {
			t.Run(fmt.Sprintf("%v/%d", peer, n), func(t *testing.T) {
				payload := bytes.Repeat([]byte{'d'}, n)
				buf := bytes.Repeat([]byte{0xAA}, DataIndicationMaxHead+n+3)
				copy(buf[DataIndicationMaxHead:], payload)
				start, end, ok := PutDataIndication(buf, DataIndicationMaxHead, n, peer, testTxID)
				if !ok {
					t.Fatal("PutDataIndication refused")
				}
				head, _ := DataIndicationOverhead(peer)
				if start != DataIndicationMaxHead-head || end != DataIndicationMaxHead+padded(n) {
					t.Fatalf("start %d end %d", start, end)
				}
				msg := buf[start:end]
				var m Message
				if err := m.Parse(msg); err != nil {
					t.Fatalf("Parse: %v", err)
				}
				agreeWithPion(t, &m)
				if m.Method != Data || m.Class != Indication || m.TransactionID != testTxID {
					t.Fatalf("header %v %v", m.Method, m.Class)
				}
				v, _ := m.Get(AttrXORPeerAddress)
				if got, err := DecodeXORAddress(v, testTxID); err != nil || got != peer {
					t.Fatalf("XOR-PEER-ADDRESS %v %v", got, err)
				}
				if v, ok := m.Get(AttrData); !ok || !bytes.Equal(v, payload) {
					t.Fatalf("DATA %q", v)
				}
				if u := m.UnknownRequired(nil); len(u) != 0 {
					t.Fatalf("unknown %v", u)
				}
				var b Builder
				b.Reset(make([]byte, 0, 128), MessageType(Data, Indication), testTxID)
				b.AddXORAddress(AttrXORPeerAddress, peer)
				b.Add(AttrData, payload)
				want, _ := b.Bytes()
				if !bytes.Equal(msg, want) {
					t.Fatalf("in place %x\nbuilder  %x", msg, want)
				}
			})
		}
	}
}

func TestPutDataIndicationRefuses(t *testing.T) {
	tests := []struct {
		name           string
		size, start, n int
		peer           netip.AddrPort
	}{
		{"no headroom", 100, 35, 4, peer4},
		{"IPv6 needs 48", 100, 47, 4, peer6},
		{"no tail room for padding", 36 + 5, 36, 5, peer4},
		{"payload past buffer", 40, 36, 8, peer4},
		{"negative start", 100, -1, 4, peer4},
		{"start past buffer", 100, 200, 0, peer4},
		{"negative length", 100, 48, -1, peer4},
		{"invalid peer", 100, 48, 4, netip.AddrPort{}},
		{"payload over 65535", 0x20000, 48, 0x10000, peer4},
		{"message over 65535", 0x20000, 48, 0xFFFF - 20, peer6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := bytes.Repeat([]byte{0xAA}, tc.size)
			if _, _, ok := PutDataIndication(buf, tc.start, tc.n, tc.peer, testTxID); ok {
				t.Fatal("accepted")
			}
			if !bytes.Equal(buf, bytes.Repeat([]byte{0xAA}, tc.size)) {
				t.Fatal("refused call wrote to the buffer")
			}
		})
	}
	// The largest payload that fits the 16-bit Length with an IPv6 peer.
	maxN := 0xFFFC - (DataIndicationMaxHead - HeaderSize)
	buf := make([]byte, DataIndicationMaxHead+maxN)
	if _, end, ok := PutDataIndication(buf, DataIndicationMaxHead, maxN, peer6, testTxID); !ok || end != len(buf) {
		t.Fatalf("maximum payload %d refused", maxN)
	}
}
