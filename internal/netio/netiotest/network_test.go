package netiotest

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/turnstile-relay/turnstile/internal/netio"
)

var (
	addrA = netip.MustParseAddrPort("10.0.0.1:0")
	addrB = netip.MustParseAddrPort("10.0.0.2:0")
)

func listen(t *testing.T, n *Network, addr netip.AddrPort, opts netio.Options) netio.BatchSocket {
	t.Helper()
	c, err := n.ListenUDP(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func batchOf(t *testing.T, n *Network, to netip.AddrPort, sizes ...int) *netio.Batch {
	t.Helper()
	b, err := netio.NewBatch(len(sizes), 2048, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, size := range sizes {
		if err := b.SetData(i, 0, size); err != nil {
			t.Fatal(err)
		}
		b.SetAddr(i, to)
	}
	return b
}

// TestPartialSendOnFullQueue: with room for two datagrams a batch of four
// sends two and reports ErrWouldBlock; the two arrive.
func TestPartialSendOnFullQueue(t *testing.T) {
	n := NewNetwork()
	tx, rx := listen(t, n, addrA, netio.Options{}), listen(t, n, addrB, netio.Options{})
	n.LimitSend(tx.LocalAddr(), 2)
	sent, err := tx.SendBatch(batchOf(t, n, rx.LocalAddr(), 1, 2, 3, 4), 4)
	if sent != 2 || !errors.Is(err, netio.ErrWouldBlock) {
		t.Fatalf("SendBatch: %d, %v; want 2, ErrWouldBlock", sent, err)
	}
	b, _ := netio.NewBatch(8, 64, 0)
	if got, err := rx.RecvBatch(b); got != 2 || err != nil || len(b.Data(1)) != 2 {
		t.Fatalf("received %d, %v; want the first two", got, err)
	}
	n.LimitSend(tx.LocalAddr(), -1)
	if sent, err := tx.SendBatch(batchOf(t, n, rx.LocalAddr(), 1, 2, 3), 3); sent != 3 || err != nil {
		t.Fatalf("after lifting the limit: %d, %v", sent, err)
	}
}

// TestDontFragmentAboveMTU: a DontFragment datagram above the path MTU
// fails with EMSGSIZE and queues the local errors carrying the MTU; without
// DontFragment it is delivered; a segmented send with segments above the MTU
// is refused whole.
func TestDontFragmentAboveMTU(t *testing.T) {
	n := NewNetwork()
	n.SetMTU(1280)
	df := listen(t, n, addrA, netio.Options{DontFragment: true, RecvErr: true})
	rx := listen(t, n, addrB, netio.Options{})
	var scratch netio.Scratch
	big := make([]byte, 1280-20-8+1)
	if err := df.SendTo(big[:len(big)-1], rx.LocalAddr(), &scratch); err != nil {
		t.Fatalf("a datagram that fits: %v", err)
	}
	if err := df.SendTo(big, rx.LocalAddr(), &scratch); !errors.Is(err, unix.EMSGSIZE) {
		t.Fatalf("one byte above the MTU: %v, want EMSGSIZE", err)
	}
	var e netio.ErrQueueEntry
	for range 2 {
		if ok, _ := df.ReadErrQueue(&e); !ok || e.Origin != unix.SO_EE_ORIGIN_LOCAL || e.Errno != unix.EMSGSIZE || e.Info != 1280 {
			t.Fatalf("error queue: %v %+v; want a local EMSGSIZE with MTU 1280", ok, e)
		}
	}
	if ok, _ := df.ReadErrQueue(&e); ok {
		t.Fatalf("a third error-queue entry %+v", e)
	}
	plain := listen(t, n, netip.MustParseAddrPort("10.0.0.3:0"), netio.Options{})
	if err := plain.SendTo(big, rx.LocalAddr(), &scratch); err != nil {
		t.Fatalf("without DontFragment: %v, want it fragmented and delivered", err)
	}
	var sc netio.SegmentScratch
	if err := plain.SendSegments([][]byte{big, big}, rx.LocalAddr(), &sc); !errors.Is(err, netio.ErrSegmentsRefused) {
		t.Fatalf("segments above the MTU: %v, want ErrSegmentsRefused", err)
	}
	b, _ := netio.NewBatch(8, 2048, 0)
	if got, _ := rx.RecvBatch(b); got != 2 {
		t.Fatalf("received %d datagrams, want the two that were sent whole", got)
	}
}

// TestInjectICMP: an injected error reaches a RecvErr socket's queue and
// pending error, and is ignored by a socket without RecvErr.
func TestInjectICMP(t *testing.T) {
	n := NewNetwork()
	withErr := listen(t, n, addrA, netio.Options{RecvErr: true})
	without := listen(t, n, addrB, netio.Options{})
	peer := netip.MustParseAddrPort("198.51.100.7:3478")
	tooBig := ICMPError{Origin: unix.SO_EE_ORIGIN_ICMP, Type: 3, Code: 4, Info: 1400, Errno: unix.EMSGSIZE,
		Offender: netip.MustParseAddr("192.0.2.254"), Destination: peer}
	for _, c := range []netio.BatchSocket{withErr, without} {
		if !n.InjectICMP(c.LocalAddr(), tooBig) {
			t.Fatalf("nothing bound at %v", c.LocalAddr())
		}
	}
	b, _ := netio.NewBatch(1, 64, 0)
	var pending netio.PendingError
	if _, err := withErr.RecvBatch(b); !errors.As(err, &pending) || pending.Errno != unix.EMSGSIZE {
		t.Fatalf("RecvErr socket: %v, want PendingError EMSGSIZE", err)
	}
	var e netio.ErrQueueEntry
	if ok, _ := withErr.ReadErrQueue(&e); !ok || e.Info != 1400 || e.Destination != peer || e.Offender != tooBig.Offender {
		t.Fatalf("error queue: %v %+v", ok, e)
	}
	if _, err := without.RecvBatch(b); !errors.Is(err, netio.ErrWouldBlock) {
		t.Fatalf("socket without RecvErr: %v, want nothing", err)
	}
	if n.InjectICMP(netip.MustParseAddrPort("10.9.9.9:1"), tooBig) {
		t.Fatal("InjectICMP reported a socket at an unbound address")
	}
}

// TestFullReceiveQueueDrops: datagrams beyond the queue are lost, not
// refused to the sender, as UDP does.
func TestFullReceiveQueueDrops(t *testing.T) {
	n := NewNetwork()
	n.SetQueueLen(2)
	tx, rx := listen(t, n, addrA, netio.Options{}), listen(t, n, addrB, netio.Options{})
	if sent, err := tx.SendBatch(batchOf(t, n, rx.LocalAddr(), 1, 1, 1), 3); sent != 3 || err != nil {
		t.Fatalf("SendBatch: %d, %v", sent, err)
	}
	if n.Dropped() != 1 {
		t.Fatalf("Dropped %d, want 1", n.Dropped())
	}
}

// TestSharedPortKeepsASourceOnOneSocket: ReusePort sockets on one port
// each get a source's datagrams always on the same socket, and the
// unspecified address receives for every address of its family.
func TestSharedPortKeepsASourceOnOneSocket(t *testing.T) {
	n := NewNetwork()
	any4 := netip.MustParseAddrPort("0.0.0.0:3478")
	a := listen(t, n, any4, netio.Options{ReusePort: true})
	b := listen(t, n, any4, netio.Options{ReusePort: true})
	var scratch netio.Scratch
	batch, _ := netio.NewBatch(32, 64, 0)
	for i := range 8 {
		src := listen(t, n, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), 5000), netio.Options{})
		for range 3 {
			src.SendTo([]byte{byte(i)}, netip.MustParseAddrPort("203.0.113.5:3478"), &scratch)
		}
	}
	total := 0
	for _, c := range []netio.BatchSocket{a, b} {
		got, _ := c.RecvBatch(batch)
		for i := 0; i < got; i += 3 {
			if i+2 >= got || !bytes.Equal(batch.Data(i), batch.Data(i+2)) {
				t.Fatalf("a source's datagrams were split between the sockets")
			}
		}
		total += got
	}
	if total != 24 {
		t.Fatalf("received %d of 24 datagrams", total)
	}
}

// TestPacketConnReadsAndTimesOut: the blocking view returns a datagram with
// its source, and a read past its deadline is a net timeout.
func TestPacketConnReadsAndTimesOut(t *testing.T) {
	n := NewNetwork()
	a, err := n.ListenPacket(addrA)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := n.ListenPacket(addrB)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := a.WriteToUDPAddrPort([]byte("hi"), b.AddrPort()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	got, from, err := b.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:got]) != "hi" || from != a.AddrPort() {
		t.Fatalf("read %q from %v, %v", buf[:got], from, err)
	}
	b.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
	var ne net.Error
	if _, _, err := b.ReadFromUDPAddrPort(buf); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
}
