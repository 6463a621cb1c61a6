package loadtest

import (
	"bytes"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/turnstile-relay/turnstile/internal/netio"
)

// callRecorder stands in for netio.Conn under udpConn.writeFrames and the
// echo peer: it records the datagrams of every send call by kind. Its
// receive hands out one prepared batch, then reports the socket closed.
type callRecorder struct {
	batched   [][]byte // datagrams sent as sendmmsg entries, one each
	segmented int      // segmented (UDP_SEGMENT) send calls
	inbound   [][]byte
	from      netip.AddrPort
	received  bool
}

func (c *callRecorder) SendBatch(b *netio.Batch, n int) (int, error) {
	for i := range n {
		c.batched = append(c.batched, bytes.Clone(b.Data(i)))
	}
	return n, nil
}

func (c *callRecorder) SendSegments(segs [][]byte, to netip.AddrPort, sc *netio.SegmentScratch) error {
	c.segmented++
	return nil
}

func (c *callRecorder) RecvBatch(b *netio.Batch) (int, error) {
	if c.received {
		return 0, net.ErrClosed
	}
	c.received = true
	for i, d := range c.inbound {
		copy(b.Buffer(i), d)
		b.SetReceived(i, c.from, b.Buffer(i)[:len(d)], 0)
	}
	return len(c.inbound), nil
}

// equalFrames is a closed-loop window: n probes of one size, which a
// segmented send could carry.
func equalFrames(n int) [][]byte {
	var out [][]byte
	for i := range n {
		out = append(out, bytes.Repeat([]byte{byte(i + 1)}, 104))
	}
	return out
}

// TestWriteFramesOneDatagramPerSendWithoutGSO: without Config.GSO a
// window of equal probes, which GSO would join, leaves as one sendmmsg
// entry per datagram and never as a segmented send; with GSO it is one
// segmented send.
func TestWriteFramesOneDatagramPerSendWithoutGSO(t *testing.T) {
	for _, gso := range []bool{false, true} {
		c, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9})
		if err != nil {
			t.Fatal(err)
		}
		u, err := newUDPConn(c, 8, 8, 2048, gso)
		if err != nil {
			t.Fatal(err)
		}
		defer u.close()
		rec := &callRecorder{}
		u.w = rec
		frames := equalFrames(4)
		if err := u.writeFrames(frames); err != nil {
			t.Fatal(err)
		}
		if gso {
			if rec.segmented != 1 || len(rec.batched) != 0 {
				t.Fatalf("GSO: %d segmented sends and %d batch entries, want the window as one segmented send", rec.segmented, len(rec.batched))
			}
			continue
		}
		if rec.segmented != 0 {
			t.Fatalf("without GSO: %d segmented sends, want none", rec.segmented)
		}
		if len(rec.batched) != len(frames) {
			t.Fatalf("without GSO: %d batch entries for %d frames", len(rec.batched), len(frames))
		}
		for i := range frames {
			if !bytes.Equal(rec.batched[i], frames[i]) {
				t.Fatalf("entry %d is not frame %d alone", i, i)
			}
		}
	}
}

// TestEchoPeerOneDatagramPerSendWithoutGSO: an echo peer given a run of
// equal datagrams from one relayed address answers each in its own
// sendmmsg entry without GSO, and joins them into a segmented send with it.
func TestEchoPeerOneDatagramPerSendWithoutGSO(t *testing.T) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, gso := range []bool{false, true} {
		var echoed atomic.Uint64
		e, err := newEchoServer(c, 2048, &echoed, gso)
		if err != nil {
			t.Fatal(err)
		}
		rec := &callRecorder{inbound: equalFrames(4), from: netip.MustParseAddrPort("127.0.0.1:10001")}
		e.conn = rec
		e.serve()
		if echoed.Load() != 4 {
			t.Fatalf("gso %v: echoed %d, want 4", gso, echoed.Load())
		}
		if gso {
			if rec.segmented != 1 {
				t.Fatalf("GSO: %d segmented sends for a run of 4, want 1", rec.segmented)
			}
			continue
		}
		if rec.segmented != 0 || len(rec.batched) != 4 {
			t.Fatalf("without GSO: %d segmented sends, %d batch entries; want 0 and 4", rec.segmented, len(rec.batched))
		}
		for i, want := range rec.inbound {
			if !bytes.Equal(rec.batched[i], want) {
				t.Fatalf("entry %d is not datagram %d alone", i, i)
			}
		}
	}
}
