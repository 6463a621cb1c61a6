package stunmsg

import (
	"bytes"
	"testing"
)

func TestParseChannelData(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		channel uint16
		payload string
		ok      bool
	}{
		{"empty", nil, 0, "", false},
		{"3 bytes", []byte{0x40, 0, 0}, 0, "", false},
		{"channel 0x3FFF", []byte{0x3f, 0xff, 0, 0}, 0, "", false},
		{"channel 0x4000", []byte{0x40, 0x00, 0, 1, 'a'}, 0x4000, "a", true},
		{"channel 0x4FFF", []byte{0x4f, 0xff, 0, 1, 'a'}, 0x4FFF, "a", true},
		{"channel 0x5000 reserved", []byte{0x50, 0x00, 0, 1, 'a'}, 0, "", false},
		{"channel 0x7FFF (RFC 5766 range)", []byte{0x7f, 0xff, 0, 1, 'a'}, 0, "", false},
		{"channel 0xFFFF reserved", []byte{0xff, 0xff, 0, 1, 'a'}, 0, "", false},
		{"zero-length payload", []byte{0x40, 0x01, 0, 0}, 0x4001, "", true},
		{"length beyond datagram", []byte{0x40, 0x01, 0, 5, 'a', 'b', 'c', 'd'}, 0, "", false},
		{"length 0xFFFF beyond datagram", []byte{0x40, 0x01, 0xff, 0xff}, 0, "", false},
		{"padding tolerated", []byte{0x40, 0x01, 0, 1, 'a', 0, 0, 0}, 0x4001, "a", true},
		{"non-zero padding tolerated", []byte{0x40, 0x01, 0, 2, 'a', 'b', 9, 9}, 0x4001, "ab", true},
		{"long trailer ignored", append([]byte{0x40, 0x01, 0, 1, 'a'}, make([]byte, 64)...), 0x4001, "a", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ch, payload, ok := ParseChannelData(tc.in)
			if ok != tc.ok || ch != tc.channel || string(payload) != tc.payload {
				t.Fatalf("ParseChannelData = %#x %q %v", ch, payload, ok)
			}
			if ok && cap(payload) != len(payload) {
				t.Fatalf("payload capacity %d exposes the padding", cap(payload))
			}
			if !ok && payload != nil {
				t.Fatal("payload returned with ok=false")
			}
		})
	}
}

func TestChannelNumbers(t *testing.T) {
	for _, tc := range []struct {
		ch uint16
		ok bool
	}{{0, false}, {0x3FFF, false}, {0x4000, true}, {0x4ABC, true}, {0x4FFF, true}, {0x5000, false}, {0x7FFF, false}, {0xFFFF, false}} {
		if IsChannelNumber(tc.ch) != tc.ok {
			t.Errorf("IsChannelNumber(%#x) = %v", tc.ch, !tc.ok)
		}
		b := []byte{9, 9, 9, 9, 'p'}
		if PutChannelDataHeader(b, tc.ch, 1) != tc.ok {
			t.Errorf("PutChannelDataHeader(%#x) = %v", tc.ch, !tc.ok)
		}
		if !tc.ok && !bytes.Equal(b[:4], []byte{9, 9, 9, 9}) {
			t.Errorf("PutChannelDataHeader(%#x) wrote a refused header", tc.ch)
		}
		if tc.ok {
			ch, p, ok := ParseChannelData(b)
			if !ok || ch != tc.ch || string(p) != "p" {
				t.Errorf("round trip %#x: %#x %q %v", tc.ch, ch, p, ok)
			}
		}
	}
}

func TestPutChannelDataHeaderRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		n    int
	}{
		{"short buffer", make([]byte, 3), 0},
		{"negative length", make([]byte, 4), -1},
		{"length over 65535", make([]byte, 4), 0x10000},
	} {
		if PutChannelDataHeader(tc.b, 0x4000, tc.n) {
			t.Errorf("%s accepted", tc.name)
		}
	}
	b := make([]byte, 4)
	if !PutChannelDataHeader(b, 0x4000, 0xFFFF) || !bytes.Equal(b, []byte{0x40, 0, 0xff, 0xff}) {
		t.Errorf("maximum length: %x", b)
	}
}

func TestChannelDataPaddedLen(t *testing.T) {
	for n, want := range map[int]int{0: 4, 1: 8, 3: 8, 4: 8, 5: 12, 1500: 1504, 0xFFFF: 4 + 0x10000} {
		if got := ChannelDataPaddedLen(n); got != want {
			t.Errorf("ChannelDataPaddedLen(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestClassifyEveryByte compares Classify with the rule spelled out per byte
// (RFC 8656 §12: 0b00 STUN, 0x40–0x4F ChannelData on a valid channel).
func TestClassifyEveryByte(t *testing.T) {
	if Classify(nil) != KindOther {
		t.Fatal("empty input")
	}
	for c := range 256 {
		want := KindOther
		if c>>6 == 0 {
			want = KindSTUN
		} else if c >= 0x40 && c <= 0x4F {
			want = KindChannelData
		}
		if got := Classify([]byte{byte(c)}); got != want {
			t.Errorf("Classify(%#02x) = %v, want %v", c, got, want)
		}
	}
	if KindSTUN.String() != "stun" || KindChannelData.String() != "channel_data" || KindOther.String() != "other" {
		t.Error("Kind labels")
	}
}

func TestFrameLength(t *testing.T) {
	tests := []struct {
		name  string
		head  []byte
		total int
		ok    bool
	}{
		{"short", []byte{0, 1, 0}, 0, false},
		{"STUN empty", []byte{0, 1, 0, 0}, 20, true},
		{"STUN RFC 5769 request", []byte{0, 1, 0, 0x58}, 108, true},
		{"STUN maximum", []byte{0, 1, 0xff, 0xfc}, 20 + 0xfffc, true},
		{"STUN length 2", []byte{0, 1, 0, 2}, 0, false},
		{"STUN length 0xFFFF", []byte{0, 1, 0xff, 0xff}, 0, false},
		{"ChannelData 0", []byte{0x40, 0, 0, 0}, 4, true},
		{"ChannelData 5 padded", []byte{0x40, 0, 0, 5}, 12, true},
		{"ChannelData 8", []byte{0x4f, 0xff, 0, 8}, 12, true},
		{"ChannelData 0xFFFF", []byte{0x40, 0, 0xff, 0xff}, 4 + 0x10000, true},
		{"reserved channel", []byte{0x50, 0, 0, 4}, 0, false},
		{"TLS record", []byte{0x16, 0x03, 0x01, 0x00}, 20 + 0x100, true},
		{"RTP", []byte{0x80, 0, 0, 4}, 0, false},
		{"HTTP POST", []byte("POST"), 0, false},
		{"HTTP GET looks like ChannelData", []byte("GET "), ChannelDataPaddedLen(0x5420), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			total, ok := FrameLength(tc.head)
			if total != tc.total || ok != tc.ok {
				t.Fatalf("FrameLength = %d, %v; want %d, %v", total, ok, tc.total, tc.ok)
			}
		})
	}
}

// TestLegacyChannelRange checks the opt-in RFC 5766 range: 0x5000–0x7FFF
// become ChannelData in every helper, 0x8000 and above stay out, and the
// strict package-level functions are unchanged.
func TestLegacyChannelRange(t *testing.T) {
	for _, tc := range []struct {
		ch             uint16
		strict, legacy bool
	}{{0x3FFF, false, false}, {0x4000, true, true}, {0x4FFF, true, true}, {0x5000, false, true}, {0x7FFF, false, true}, {0x8000, false, false}, {0xFFFF, false, false}} {
		if got := StrictChannels.Contains(tc.ch); got != tc.strict {
			t.Errorf("StrictChannels.Contains(%#x) = %v", tc.ch, got)
		}
		if got := LegacyChannels.Contains(tc.ch); got != tc.legacy {
			t.Errorf("LegacyChannels.Contains(%#x) = %v", tc.ch, got)
		}
		msg := []byte{byte(tc.ch >> 8), byte(tc.ch), 0, 2, 'h', 'i', 0, 0}
		if _, p, ok := LegacyChannels.ParseChannelData(msg); ok != tc.legacy || ok && string(p) != "hi" {
			t.Errorf("LegacyChannels.ParseChannelData(%#x) = %q, %v", tc.ch, p, ok)
		}
		if _, _, ok := ParseChannelData(msg); ok != tc.strict {
			t.Errorf("ParseChannelData(%#x) ok = %v", tc.ch, ok)
		}
		if got := LegacyChannels.Classify(msg) == KindChannelData; got != tc.legacy && tc.ch >= 0x4000 {
			t.Errorf("LegacyChannels.Classify(%#x) ChannelData = %v", tc.ch, got)
		}
		if n, ok := LegacyChannels.FrameLength(msg); ok != tc.legacy || ok && n != 8 {
			t.Errorf("LegacyChannels.FrameLength(%#x) = %d, %v", tc.ch, n, ok)
		}
		hdr := make([]byte, 4)
		if ok := LegacyChannels.PutChannelDataHeader(hdr, tc.ch, 2); ok != tc.legacy {
			t.Errorf("LegacyChannels.PutChannelDataHeader(%#x) = %v", tc.ch, ok)
		}
	}
	if (ChannelRange{}).Contains(0x4000) {
		t.Error("the zero ChannelRange contains 0x4000")
	}
}
