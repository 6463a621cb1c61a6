package netio

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/turnstile-relay/turnstile/internal/netnstest"
)

// segmentsOf returns count datagrams of size bytes, the last one last bytes
// long, each filled with its own index so reordering or merging shows.
func segmentsOf(count, size, last int) [][]byte {
	segs := make([][]byte, count)
	for i := range segs {
		n := size
		if i == count-1 {
			n = last
		}
		segs[i] = bytes.Repeat([]byte{byte('a' + i%26)}, n)
	}
	return segs
}

// TestSendSegmentsDelivers checks that a segmented send arrives as one
// datagram per segment, in order and unmerged, over IPv4 and IPv6 loopback.
func TestSendSegmentsDelivers(t *testing.T) {
	shapes := []struct{ count, size, last int }{
		{2, 100, 100},
		{4, 104, 104},
		{5, 100, 60},
		{32, 1200, 1},
		{MaxSegments, 1000, 1000},
	}
	for _, fam := range families {
		for _, sh := range shapes {
			t.Run(fmt.Sprintf("%s/%dx%d+%d", fam.name, sh.count, sh.size, sh.last), func(t *testing.T) {
				tx, rx := listen(t, fam.addr, Options{}), listen(t, fam.addr, Options{RecvBuffer: 4 << 20})
				segs := segmentsOf(sh.count, sh.size, sh.last)
				var sc SegmentScratch
				if err := tx.SendSegments(segs, rx.LocalAddr(), &sc); err != nil {
					t.Fatalf("SendSegments: %v", err)
				}
				got, from := recvN(t, rx, newBatch(t, 16, 65535, 0), sh.count)
				if len(got) != sh.count {
					t.Fatalf("received %d datagrams, want %d", len(got), sh.count)
				}
				for i := range got {
					if got[i] != string(segs[i]) {
						t.Fatalf("datagram %d: %d bytes starting %q, want %d bytes of %q", i, len(got[i]), got[i][:1], len(segs[i]), segs[i][:1])
					}
					if from[i] != tx.LocalAddr() {
						t.Fatalf("datagram %d from %v, want %v", i, from[i], tx.LocalAddr())
					}
				}
			})
		}
	}
}

// TestSendSegmentsShape checks the shape rules: nothing is sent for a
// batch the kernel would cut differently from what the caller meant.
func TestSendSegmentsShape(t *testing.T) {
	tx, rx := listen(t, any4, Options{}), listen(t, any4, Options{})
	tests := []struct {
		name string
		segs [][]byte
	}{
		{"none", nil},
		{"one", segmentsOf(1, 100, 100)},
		{"empty first", [][]byte{{}, {}}},
		{"empty last", [][]byte{make([]byte, 10), {}}},
		{"shorter middle", [][]byte{make([]byte, 10), make([]byte, 9), make([]byte, 10)}},
		{"longer last", segmentsOf(3, 100, 101)},
		{"too many", segmentsOf(MaxSegments+1, 10, 10)},
		{"too large", segmentsOf(2, MaxSegmentsBytes/2+1, MaxSegmentsBytes/2+1)},
	}
	var sc SegmentScratch
	for _, tc := range tests {
		if err := tx.SendSegments(tc.segs, rx.LocalAddr(), &sc); !errors.Is(err, ErrBounds) {
			t.Errorf("%s: SendSegments = %v, want ErrBounds", tc.name, err)
		}
	}
	if n, err := rx.RecvBatch(newBatch(t, 4, 2048, 0)); !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("a refused shape sent %d datagrams (%v)", n, err)
	}
	if err := tx.SendSegments(segmentsOf(2, 10, 10), any6, &sc); !errors.Is(err, ErrAddressFamily) {
		t.Fatalf("IPv6 destination from an IPv4 socket: %v, want ErrAddressFamily", err)
	}
	tx.Close()
	if err := tx.SendSegments(segmentsOf(2, 10, 10), rx.LocalAddr(), &sc); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

// TestSendSegmentsRefusedAboveMTU checks that segments larger than the
// path MTU are refused whole (the caller then sends them one by one, and
// fragmentation or EMSGSIZE applies per datagram), in a namespace whose
// loopback has a 1500-byte MTU.
func TestSendSegmentsRefusedAboveMTU(t *testing.T) {
	leave := netnstest.Enter(t, 1500)
	defer leave()
	// No t.Run: a subtest runs on another goroutine, outside the namespace.
	for _, fam := range families {
		for _, df := range []bool{false, true} {
			tx := listen(t, fam.addr, Options{DontFragment: df})
			rx := listen(t, fam.addr, Options{})
			var sc SegmentScratch
			if err := tx.SendSegments(segmentsOf(3, 1400, 1400), rx.LocalAddr(), &sc); err != nil {
				t.Fatalf("%s df=%v: 1400-byte segments under a 1500-byte MTU: %v", fam.name, df, err)
			}
			recvN(t, rx, newBatch(t, 4, 2048, 0), 3)
			err := tx.SendSegments(segmentsOf(3, 1600, 1600), rx.LocalAddr(), &sc)
			if !errors.Is(err, ErrSegmentsRefused) {
				t.Fatalf("%s df=%v: 1600-byte segments under a 1500-byte MTU: %v, want ErrSegmentsRefused", fam.name, df, err)
			}
			// A refusal about the size does not turn segmentation off.
			if err := tx.SendSegments(segmentsOf(2, 100, 100), rx.LocalAddr(), &sc); err != nil {
				t.Fatalf("%s df=%v: small segments after a refusal: %v", fam.name, df, err)
			}
			recvN(t, rx, newBatch(t, 4, 2048, 0), 2)
			tx.Close()
			rx.Close()
		}
	}
}

// TestSendSegmentsZeroAllocs: the segmented send is on the hot path.
func TestSendSegmentsZeroAllocs(t *testing.T) {
	tx, rx := listen(t, any4, Options{}), listen(t, any4, Options{RecvBuffer: 4 << 20})
	in := newBatch(t, 8, 2048, 0)
	segs := segmentsOf(4, 100, 100)
	var sc SegmentScratch
	to := rx.LocalAddr()
	var err error
	allocs := testing.AllocsPerRun(200, func() {
		if e := tx.SendSegments(segs, to, &sc); e != nil {
			err = e
		}
		for {
			if _, e := rx.RecvBatch(in); e != nil {
				break
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Fatalf("SendSegments: %v allocations per call", allocs)
	}
}

func BenchmarkSendSegments(b *testing.B) {
	for _, count := range []int{1, 4, 16} {
		b.Run(fmt.Sprint(count), func(b *testing.B) {
			tx, rx := listen(b, any4, Options{}), listen(b, any4, Options{RecvBuffer: 8 << 20})
			in := newBatch(b, 64, 2048, 0)
			segs := segmentsOf(count, benchPayload, benchPayload)
			var sc SegmentScratch
			var scratch Scratch
			to := rx.LocalAddr()
			b.ReportAllocs()
			for b.Loop() {
				if count == 1 {
					if err := tx.SendTo(segs[0], to, &scratch); err != nil {
						b.Fatal(err)
					}
				} else if err := tx.SendSegments(segs, to, &sc); err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := rx.RecvBatch(in); err != nil {
						break
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*count), "ns/datagram")
		})
	}
}

func TestSegmentable(t *testing.T) {
	sizes := func(n ...int) [][]byte {
		f := make([][]byte, len(n))
		for i, s := range n {
			f[i] = make([]byte, s)
		}
		return f
	}
	tests := []struct {
		segs [][]byte
		want bool
	}{
		{sizes(100, 100), true},
		{sizes(100, 100, 100, 40), true},
		{segmentsOf(MaxSegments, 10, 10), true},
		{sizes(100), false},
		{sizes(100, 40, 100), false},
		{sizes(100, 101), false},
		{sizes(0, 0), false},
		{sizes(100, 0), false},
		{segmentsOf(MaxSegments+1, 10, 10), false},
		{sizes(40000, 40000), false},
	}
	for i, tc := range tests {
		if got := Segmentable(tc.segs); got != tc.want {
			t.Errorf("case %d (%d datagrams): Segmentable = %v, want %v", i, len(tc.segs), got, tc.want)
		}
	}
}
