package loadtest

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"
)

func TestSegmentable(t *testing.T) {
	n := func(sizes ...int) [][]byte {
		f := make([][]byte, len(sizes))
		for i, s := range sizes {
			f[i] = make([]byte, s)
		}
		return f
	}
	many := make([]int, maxSegments+1)
	for i := range many {
		many[i] = 10
	}
	tests := []struct {
		frames [][]byte
		want   bool
	}{
		{n(100, 100), true},
		{n(100, 100, 100, 40), true},
		{n(100), false},
		{n(100, 40, 100), false},
		{n(100, 101), false},
		{n(0, 0), false},
		{n(100, 0), false},
		{n(many...), false},
		{n(many[:maxSegments]...), true},
		{n(40000, 40000), false},
	}
	for i, tc := range tests {
		if got := segmentable(tc.frames); got != tc.want {
			t.Errorf("case %d (%d frames): segmentable = %v, want %v", i, len(tc.frames), got, tc.want)
		}
	}
}

// TestSegmentedWriteArrivesAsDatagrams: writeFrames' segmented send
// reaches a plain receiver as one datagram per frame, in order, and
// allocates nothing.
func TestSegmentedWriteArrivesAsDatagrams(t *testing.T) {
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	c, err := net.DialUDP("udp", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := newUDPConn(c, 8, 8, 2048)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.close()
	var frames [][]byte
	for i := range 5 {
		f := bytes.Repeat([]byte(fmt.Sprint(i)), 120)
		if i == 4 {
			f = f[:30]
		}
		frames = append(frames, f)
	}
	if err := conn.writeFrames(frames); err != nil {
		t.Fatal(err)
	}
	if conn.seg == nil {
		t.Fatal("the kernel refused a segmented send on loopback")
	}
	buf := make([]byte, 4096)
	rx.SetReadDeadline(time.Now().Add(2 * time.Second))
	for i, want := range frames {
		n, err := rx.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("datagram %d: %d bytes %q..., want %d bytes %q...", i, n, buf[:1], len(want), want[:1])
		}
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := conn.writeFrames(frames[:4]); err != nil {
			t.Fatal(err)
		}
		for range 4 {
			rx.Read(buf)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per segmented write", allocs)
	}
}
