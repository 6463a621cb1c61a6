package turnwire

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestFrameSize(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		max     int
		want    int
		wantErr bool
	}{
		{"need more", []byte{0x40, 0}, 100, 0, false},
		{"stun header only", []byte{0x01, 0x01, 0, 0}, 100, 20, false},
		{"stun with attrs", []byte{0x01, 0x01, 0, 8}, 100, 28, false},
		{"stun length not multiple of 4", []byte{0x01, 0x01, 0, 6}, 100, 0, true},
		{"channel data padded", []byte{0x40, 0x00, 0, 5}, 100, 12, false},
		{"channel data exact", []byte{0x4f, 0xff, 0, 8}, 100, 12, false},
		{"too large", []byte{0x40, 0x00, 0xff, 0xff}, 1500, 0, true},
		{"rtp byte", []byte{0x80, 0, 0, 0}, 100, 0, true},
		{"reserved 0x50", []byte{0x50, 0, 0, 0}, 100, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FrameSize(tc.in, tc.max)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Fatalf("FrameSize = %d, %v; want %d, err=%v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// randomFrames returns a stream of valid frames and the frames themselves.
func randomFrames(r *rand.Rand, count int) (stream []byte, frames [][]byte) {
	for i := 0; i < count; i++ {
		var f []byte
		if r.IntN(2) == 0 {
			n := r.IntN(200)
			f = make([]byte, ChannelDataSize(n, true))
			PutChannelDataHeader(f, uint16(ChannelMin+r.IntN(0x1000)), n)
			for j := 0; j < n; j++ {
				f[4+j] = byte(r.Uint32())
			}
		} else {
			n := 4 * r.IntN(50)
			f = make([]byte, HeaderSize+n)
			be.PutUint16(f[0:2], 0x0101)
			be.PutUint16(f[2:4], uint16(n))
			be.PutUint32(f[4:8], MagicCookie)
			for j := 8; j < len(f); j++ {
				f[j] = byte(r.Uint32())
			}
		}
		frames = append(frames, f)
		stream = append(stream, f...)
	}
	return stream, frames
}

// TestFramerRandomChunks feeds a stream of random frames in random-sized
// pieces (as TCP may deliver them) and checks that the framer returns
// exactly the frames that were concatenated: the naive model is the list.
func TestFramerRandomChunks(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 200; iter++ {
		stream, want := randomFrames(r, 1+r.IntN(30))
		f := NewFramer(1024, 1024+r.IntN(4096))
		var got [][]byte
		for len(stream) > 0 || f.Buffered() > 0 {
			space := f.Space()
			n := copy(space, stream[:min(len(stream), 1+r.IntN(300))])
			stream = stream[n:]
			f.Advance(n)
			for {
				fr, err := f.Next()
				if err != nil {
					t.Fatalf("iter %d: %v", iter, err)
				}
				if fr == nil {
					break
				}
				got = append(got, append([]byte(nil), fr...))
			}
			if n == 0 && len(stream) == 0 {
				break
			}
		}
		if len(got) != len(want) {
			t.Fatalf("iter %d: %d frames, want %d", iter, len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("iter %d frame %d differs", iter, i)
			}
		}
		if f.Buffered() != 0 {
			t.Fatalf("iter %d: %d bytes left", iter, f.Buffered())
		}
	}
}

func TestFramerRejectsGarbage(t *testing.T) {
	f := NewFramer(64, 64)
	n := copy(f.Space(), []byte{0xff, 0, 0, 0, 0, 0})
	f.Advance(n)
	if fr, err := f.Next(); err == nil || fr != nil {
		t.Fatalf("Next = %x, %v; want ErrBadFrame", fr, err)
	}
}

func TestFramerAdvanceIgnoresNonsense(t *testing.T) {
	f := NewFramer(64, 64)
	f.Advance(-1)
	f.Advance(65)
	if f.Buffered() != 0 {
		t.Fatalf("Buffered = %d", f.Buffered())
	}
}
