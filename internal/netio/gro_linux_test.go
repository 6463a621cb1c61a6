package netio

import (
	"encoding/binary"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestGROCoalescesASegmentedSend: on loopback a segmented send reaches a
// socket with Options.GRO as one message that SegmentSize cuts back into
// the datagrams, and a socket without it as separate datagrams.
func TestGROCoalescesASegmentedSend(t *testing.T) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			tx := listen(t, fam.addr, Options{})
			gro := listen(t, fam.addr, Options{GRO: true})
			plain := listen(t, fam.addr, Options{})
			segs := segmentsOf(4, 100, 37)
			var sc SegmentScratch
			for _, rx := range []*Socket{gro, plain} {
				if err := tx.SendSegments(segs, rx.LocalAddr(), &sc); err != nil {
					t.Fatal(err)
				}
			}
			b := newBatch(t, 8, MaxDatagram, 16)
			got, _ := recvN(t, gro, b, 1)
			if len(got) != 1 || b.SegmentSize(0) != 100 {
				t.Fatalf("GRO socket: %d messages, segment size %d; want 1 message of 100-byte segments", len(got), b.SegmentSize(0))
			}
			var joined strings.Builder
			for _, s := range segs {
				joined.Write(s)
			}
			if got[0] != joined.String() {
				t.Fatalf("GRO socket: coalesced data differs from the datagrams sent")
			}
			got, _ = recvN(t, plain, b, 4)
			for i := range got {
				if got[i] != string(segs[i]) || b.SegmentSize(i) != 0 {
					t.Fatalf("plain socket: datagram %d is %d bytes with segment size %d", i, len(got[i]), b.SegmentSize(i))
				}
			}
		})
	}
}

// TestGROSingleDatagram: a lone datagram on a GRO socket is not reported
// as coalesced.
func TestGROSingleDatagram(t *testing.T) {
	tx, rx := listen(t, any4, Options{}), listen(t, any4, Options{GRO: true})
	var scratch Scratch
	if err := tx.SendTo([]byte("one datagram"), rx.LocalAddr(), &scratch); err != nil {
		t.Fatal(err)
	}
	b := newBatch(t, 4, 2048, 0)
	got, _ := recvN(t, rx, b, 1)
	if got[0] != "one datagram" || b.SegmentSize(0) != 0 {
		t.Fatalf("got %q with segment size %d", got[0], b.SegmentSize(0))
	}
}

func TestGROSegmentParse(t *testing.T) {
	valid := func(level, typ int32, size uint32) []byte {
		c := make([]byte, unix.CmsgSpace(4))
		h := (*unix.Cmsghdr)(unsafePointer(c))
		h.Level, h.Type = level, typ
		h.SetLen(unix.CmsgLen(4))
		binary.NativeEndian.PutUint32(c[unix.CmsgLen(0):], size)
		return c
	}
	tests := []struct {
		name string
		c    []byte
		want int
	}{
		{"gro", valid(unix.SOL_UDP, unix.UDP_GRO, 1200), 1200},
		{"empty", nil, 0},
		{"short", valid(unix.SOL_UDP, unix.UDP_GRO, 1200)[:unix.CmsgLen(4)-1], 0},
		{"other level", valid(unix.IPPROTO_IP, unix.UDP_GRO, 1200), 0},
		{"other type", valid(unix.SOL_UDP, unix.UDP_SEGMENT, 1200), 0},
		{"negative", valid(unix.SOL_UDP, unix.UDP_GRO, 0xffffffff), 0},
	}
	for _, tc := range tests {
		if got := groSegment(tc.c); got != tc.want {
			t.Errorf("%s: groSegment = %d, want %d", tc.name, got, tc.want)
		}
	}
	bad := valid(unix.SOL_UDP, unix.UDP_GRO, 1200)
	(*unix.Cmsghdr)(unsafePointer(bad)).SetLen(unix.CmsgLen(0))
	if got := groSegment(bad); got != 0 {
		t.Errorf("length below the payload: groSegment = %d, want 0", got)
	}
}

func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }
