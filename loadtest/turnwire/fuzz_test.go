package turnwire

import (
	"bytes"
	"testing"
)

// FuzzIncoming feeds arbitrary frames to every decoder a client applies to
// what the server sends. Properties: no panic; decoded payloads lie inside
// the input; Classify agrees with the specific parsers.
func FuzzIncoming(f *testing.F) {
	f.Add([]byte{0x40, 0x00, 0x00, 0x01, 'a', 0, 0, 0})
	f.Add(buildDataIndication(f, []byte("seed")))
	f.Add([]byte{0x01, 0x13, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Fuzz(func(t *testing.T, b []byte) {
		kind := Classify(b)
		if data, ok := ParseDataIndication(b); ok {
			if kind != KindDataIndication {
				t.Fatalf("ParseDataIndication ok but Classify = %v", kind)
			}
			if !within(b, data) {
				t.Fatal("DATA outside the message")
			}
		}
		if _, data, ok := ParseChannelData(b); ok {
			if kind != KindChannelData {
				t.Fatalf("ParseChannelData ok but Classify = %v", kind)
			}
			if !within(b, data) {
				t.Fatal("ChannelData payload outside the message")
			}
		}
		if r, err := ParseResponse(b); err == nil {
			if kind != KindResponse {
				t.Fatalf("ParseResponse ok but Classify = %v", kind)
			}
			_ = r.VerifyIntegrity([]byte("0123456789abcdef"))
		}
	})
}

// within reports whether sub's bytes are a sub-slice of b.
func within(b, sub []byte) bool {
	if len(sub) == 0 {
		return true
	}
	for i := 0; i+len(sub) <= len(b); i++ {
		if &b[i] == &sub[0] {
			return true
		}
	}
	return false
}

// FuzzFramer checks that cutting a byte stream into frames is independent of
// how the stream is chunked: one big write and byte-by-byte writes yield the
// same frames and the same error.
func FuzzFramer(f *testing.F) {
	f.Add([]byte{0x40, 0x00, 0x00, 0x02, 'h', 'i', 0, 0, 0x00, 0x01, 0x00, 0x00}, uint8(3))
	f.Add([]byte{0xff, 0xff}, uint8(1))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		whole, errWhole := cut(stream, len(stream))
		step := int(chunk)%16 + 1
		pieces, errPieces := cut(stream, step)
		if (errWhole == nil) != (errPieces == nil) {
			t.Fatalf("errors differ: %v vs %v", errWhole, errPieces)
		}
		if len(whole) != len(pieces) {
			t.Fatalf("%d frames vs %d", len(whole), len(pieces))
		}
		for i := range whole {
			if !bytes.Equal(whole[i], pieces[i]) {
				t.Fatalf("frame %d differs", i)
			}
		}
	})
}

func cut(stream []byte, step int) ([][]byte, error) {
	const max = 512
	fr := NewFramer(max, max)
	var out [][]byte
	for len(stream) > 0 {
		n := copy(fr.Space(), stream[:min(step, len(stream))])
		if n == 0 {
			return out, ErrBadFrame
		}
		stream = stream[n:]
		fr.Advance(n)
		for {
			f, err := fr.Next()
			if err != nil {
				return out, err
			}
			if f == nil {
				break
			}
			out = append(out, append([]byte(nil), f...))
		}
	}
	return out, nil
}
