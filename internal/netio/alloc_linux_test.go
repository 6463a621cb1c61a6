package netio

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The benchmarks and allocation tests use the relay's typical batch: 32
// datagrams of 100 bytes, with headroom for a Data indication header.
const (
	benchBatch    = 32
	benchPayload  = 100
	benchHeadroom = 48
)

// loopbackPair is a sender and a receiver on loopback with the batches and
// poller a loop goroutine would own.
type loopbackPair struct {
	tx, rx  *Socket
	out, in *Batch
	p       *Poller
	events  []Event
}

func newLoopbackPair(t testing.TB, addr netip.AddrPort) *loopbackPair {
	t.Helper()
	lp := &loopbackPair{
		tx:     listen(t, addr, Options{}),
		rx:     listen(t, addr, Options{RecvBuffer: 1 << 20}),
		out:    newBatch(t, benchBatch, benchPayload, benchHeadroom),
		in:     newBatch(t, benchBatch, benchPayload, benchHeadroom),
		p:      newPoller(t),
		events: make([]Event, 4),
	}
	if err := lp.p.Add(lp.rx, 1); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < benchBatch; i++ {
		if err := lp.out.SetData(i, benchHeadroom, benchPayload); err != nil {
			t.Fatal(err)
		}
		lp.out.SetAddr(i, lp.rx.LocalAddr())
	}
	return lp
}

// roundTrip sends one batch and receives it. It allocates nothing, and
// returns how many datagrams arrived before the first error, if any. It
// gives up after ten quiet waits of 100 ms.
func (lp *loopbackPair) roundTrip() (int, error) {
	if n, err := lp.tx.SendBatch(lp.out, benchBatch); err != nil || n != benchBatch {
		return 0, err
	}
	got, quiet := 0, 0
	for got < benchBatch && quiet < 10 {
		n, err := lp.rx.RecvBatch(lp.in)
		if errors.Is(err, ErrWouldBlock) {
			if k, err := lp.p.Wait(lp.events, 100*time.Millisecond); err != nil {
				return got, err
			} else if k == 0 {
				quiet++
			}
			continue
		}
		if err != nil {
			return got, err
		}
		got += n
	}
	return got, nil
}

// TestZeroAllocs proves that the hot-path calls allocate nothing.
func TestZeroAllocs(t *testing.T) {
	for _, fam := range families {
		t.Run("SendBatch+RecvBatch/"+fam.name, func(t *testing.T) {
			lp := newLoopbackPair(t, fam.addr)
			var got int
			var err error
			allocs := testing.AllocsPerRun(100, func() {
				var n int
				n, err = lp.roundTrip()
				got += n
			})
			if err != nil || got != 101*benchBatch {
				t.Fatalf("received %d of %d datagrams, last error %v", got, 101*benchBatch, err)
			}
			if allocs != 0 {
				t.Fatalf("SendBatch+RecvBatch: %v allocations per batch", allocs)
			}
		})
	}
	t.Run("RecvBatch/empty", func(t *testing.T) {
		lp := newLoopbackPair(t, any4)
		var err error
		allocs := testing.AllocsPerRun(100, func() { _, err = lp.rx.RecvBatch(lp.in) })
		if !errors.Is(err, ErrWouldBlock) || allocs != 0 {
			t.Fatalf("RecvBatch on an empty socket: %v, %v allocations", err, allocs)
		}
	})
	t.Run("SendTo", func(t *testing.T) {
		tx, rx := listen(t, any6, Options{}), listen(t, any6, Options{RecvBuffer: 1 << 20})
		var scratch Scratch
		payload := make([]byte, benchPayload)
		to := rx.LocalAddr()
		var err error
		allocs := testing.AllocsPerRun(100, func() {
			if e := tx.SendTo(payload, to, &scratch); e != nil {
				err = e
			}
		})
		if err != nil || allocs != 0 {
			t.Fatalf("SendTo: %v, %v allocations", err, allocs)
		}
	})
	t.Run("ReadErrQueue/local", func(t *testing.T) {
		// An IPv6 datagram larger than the loopback MTU under IPV6_DONTFRAG
		// fails at once and queues a local error: no ICMP rate limit.
		s := listen(t, any6, Options{RecvErr: true, DontFragment: true})
		sink := listen(t, any6, Options{})
		var scratch Scratch
		var e ErrQueueEntry
		big := make([]byte, loopbackMTU(t)-40-8+1)
		read := 0
		var err error
		allocs := testing.AllocsPerRun(100, func() {
			if e := s.SendTo(big, sink.LocalAddr(), &scratch); e == nil {
				err = errors.New("oversized send succeeded")
			}
			for {
				ok, e2 := s.ReadErrQueue(&e)
				if e2 != nil {
					err = e2
				}
				if !ok {
					break
				}
				read++
			}
		})
		if err != nil || read != 2*101 {
			t.Fatalf("read %d entries, want %d; %v", read, 2*101, err)
		}
		if allocs != 0 {
			t.Fatalf("ReadErrQueue: %v allocations", allocs)
		}
	})
	t.Run("ReadErrQueue+PendingError/ICMP", func(t *testing.T) {
		s := listen(t, any4, Options{RecvErr: true})
		p := newPoller(t)
		if err := p.Add(s, 1); err != nil {
			t.Fatal(err)
		}
		dst := closedPort(t, any4)
		var scratch Scratch
		var e ErrQueueEntry
		b := newBatch(t, 4, 64, 0)
		events := make([]Event, 4)
		pendingSeen, entries := 0, 0
		var err error
		// Fewer runs: the kernel's global ICMP budget (net.ipv4.icmp_msgs_per_sec,
		// bursts of 50) applies to loopback too.
		allocs := testing.AllocsPerRun(20, func() {
			for attempt := 0; attempt < icmpProbeAttempts; attempt++ {
				if e := s.SendTo([]byte("probe"), dst, &scratch); e != nil {
					err = e
					return
				}
				k, e := p.Wait(events, icmpProbeWait)
				if e != nil {
					err = e
					return
				}
				if k > 0 && events[0].Error {
					break
				}
			}
			if _, e := s.RecvBatch(b); e != nil {
				if _, ok := e.(PendingError); ok {
					pendingSeen++
				}
			}
			for {
				ok, e2 := s.ReadErrQueue(&e)
				if e2 != nil || !ok {
					break
				}
				entries++
			}
		})
		if err != nil || entries < 21 || pendingSeen < 21 {
			t.Fatalf("%d entries, %d pending errors over 21 runs; %v", entries, pendingSeen, err)
		}
		if allocs != 0 {
			t.Fatalf("ICMP path: %v allocations", allocs)
		}
	})
	t.Run("Poller.Wait", func(t *testing.T) {
		lp := newLoopbackPair(t, any4)
		var scratch Scratch
		if err := lp.tx.SendTo([]byte("stays queued"), lp.rx.LocalAddr(), &scratch); err != nil {
			t.Fatal(err)
		}
		waitFor(t, lp.p, 1, waitTimeout, isReadable)
		ready := 0
		allocs := testing.AllocsPerRun(100, func() {
			if n, _ := lp.p.Wait(lp.events, 0); n == 1 && lp.events[0].Readable {
				ready++
			}
		})
		if ready != 101 || allocs != 0 {
			t.Fatalf("Wait reported %d of 101 times, %v allocations", ready, allocs)
		}
	})
	t.Run("Poller.Wake+Wait", func(t *testing.T) {
		p := newPoller(t)
		events := make([]Event, 4)
		var err error
		allocs := testing.AllocsPerRun(100, func() {
			if e := p.Wake(); e != nil {
				err = e
			}
			if _, e := p.Wait(events, -1); e != nil {
				err = e
			}
		})
		if err != nil || allocs != 0 {
			t.Fatalf("Wake+Wait: %v, %v allocations", err, allocs)
		}
	})
}

func BenchmarkBatchRoundTrip(b *testing.B) {
	for _, fam := range families {
		b.Run(fam.name, func(b *testing.B) {
			lp := newLoopbackPair(b, fam.addr)
			b.ReportAllocs()
			b.SetBytes(benchBatch * benchPayload)
			for b.Loop() {
				if n, err := lp.roundTrip(); n != benchBatch || err != nil {
					b.Fatalf("round trip: %d datagrams, %v", n, err)
				}
			}
		})
	}
}

func BenchmarkSendBatch(b *testing.B) {
	lp := newLoopbackPair(b, any4)
	b.ReportAllocs()
	b.SetBytes(benchBatch * benchPayload)
	for b.Loop() {
		// Nobody reads rx: once its buffer is full the kernel drops on the
		// receive side, which the sender does not see.
		if n, err := lp.tx.SendBatch(lp.out, benchBatch); n != benchBatch || err != nil {
			b.Fatalf("SendBatch = %d, %v", n, err)
		}
	}
}

func BenchmarkSendTo(b *testing.B) {
	lp := newLoopbackPair(b, any4)
	var scratch Scratch
	payload := make([]byte, benchPayload)
	to := lp.rx.LocalAddr()
	b.ReportAllocs()
	b.SetBytes(benchPayload)
	for b.Loop() {
		if err := lp.tx.SendTo(payload, to, &scratch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPollerWait(b *testing.B) {
	lp := newLoopbackPair(b, any4)
	var scratch Scratch
	if err := lp.tx.SendTo([]byte("stays queued"), lp.rx.LocalAddr(), &scratch); err != nil {
		b.Fatal(err)
	}
	waitFor(b, lp.p, 1, waitTimeout, isReadable)
	b.ReportAllocs()
	for b.Loop() {
		if n, err := lp.p.Wait(lp.events, 0); n != 1 || err != nil {
			b.Fatalf("Wait = %d, %v", n, err)
		}
	}
}

// loopbackMTU reads the MTU of lo in the current namespace.
func loopbackMTU(t testing.TB) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFMTU, ifr); err != nil {
		t.Fatalf("SIOCGIFMTU lo: %v", err)
	}
	mtu := int(ifr.Uint32())
	if mtu-40-8+1 > 65535-8 {
		t.Fatalf("loopback MTU %d leaves no IPv6 UDP datagram too large for it", mtu)
	}
	return mtu
}
