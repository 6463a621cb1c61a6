package relay

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/netio"
	"github.com/turnstile-relay/turnstile/internal/netnstest"
)

// outboxRig is a few sending sockets and a few receiving ones on loopback.
type outboxRig struct {
	senders   []*netio.Socket
	receivers []*netio.Socket
}

func newOutboxRig(t testing.TB, senders, receivers int) *outboxRig {
	t.Helper()
	rig := &outboxRig{}
	open := func() *netio.Socket {
		s, err := netio.ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), netio.Options{RecvBuffer: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	for range senders {
		rig.senders = append(rig.senders, open())
	}
	for range receivers {
		rig.receivers = append(rig.receivers, open())
	}
	return rig
}

// drain reads everything queued on receiver r, waiting until want
// datagrams arrived or a second passed, and groups them by source.
func (rig *outboxRig) drain(t *testing.T, r int, want int) map[netip.AddrPort][]string {
	t.Helper()
	b, err := netio.NewBatch(64, 65535, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[netip.AddrPort][]string{}
	deadline := time.Now().Add(time.Second)
	for n := 0; n < want; {
		k, err := rig.receivers[r].RecvBatch(b)
		if errors.Is(err, netio.ErrWouldBlock) {
			if time.Now().After(deadline) {
				t.Fatalf("receiver %d: %d of %d datagrams", r, n, want)
			}
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < k; i++ {
			got[b.Addr(i)] = append(got[b.Addr(i)], string(b.Data(i)))
		}
		n += k
	}
	if k, err := rig.receivers[r].RecvBatch(b); err == nil {
		t.Fatalf("receiver %d: %d datagrams more than the %d queued", r, k, want)
	}
	return got
}

// TestOutboxAgainstModel queues random sequences (a few sockets, a few
// destinations, sizes that often repeat) and checks against the naive
// model, one sendto per datagram in queue order: every flow (socket,
// destination) receives exactly its datagrams in order, counters match,
// and every run the outbox formed is one the kernel cuts as intended.
func TestOutboxAgainstModel(t *testing.T) {
	rig := newOutboxRig(t, 3, 2)
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var c counters
		o := newOutbox(&c)
		n := 1 + rng.IntN(2*batchSize) // past batchSize, add flushes by itself
		want := map[[2]int][]string{}
		perReceiver := make([]int, len(rig.receivers))
		toPeerBytes := uint64(0)
		sizes := []int{0, 1, 60, 100, 100, 100, 1200, 1200}
		for i := range n {
			s, r := rng.IntN(len(rig.senders)), rng.IntN(len(rig.receivers))
			size := sizes[rng.IntN(len(sizes))]
			data := []byte(fmt.Sprintf("%03d-%d-%d", i, s, r))
			for len(data) < size {
				data = append(data, byte('a'+i%26))
			}
			data = data[:size]
			if size == 0 {
				data = []byte{}
			}
			toPeer := s != 0
			if toPeer {
				toPeerBytes += uint64(size)
			}
			o.add(rig.senders[s], rig.receivers[r].LocalAddr(), data, toPeer)
			checkRuns(t, o)
			want[[2]int{s, r}] = append(want[[2]int{s, r}], string(data))
			perReceiver[r]++
		}
		o.flush()
		if o.n != 0 || o.nruns != 0 {
			t.Fatalf("seed %d: flush left %d packets in %d runs", seed, o.n, o.nruns)
		}
		for r := range rig.receivers {
			got := rig.drain(t, r, perReceiver[r])
			for s, sock := range rig.senders {
				g, w := got[sock.LocalAddr()], want[[2]int{s, r}]
				if fmt.Sprint(g) != fmt.Sprint(w) {
					t.Fatalf("seed %d: flow %d->%d got %q, want %q", seed, s, r, g, w)
				}
			}
		}
		if d := c.drops[DropSendFailed].Load(); d != 0 {
			t.Fatalf("seed %d: %d send failures", seed, d)
		}
		if got := c.bytes[ToPeer][transportUDP].Load(); got != toPeerBytes {
			t.Fatalf("seed %d: %d bytes counted relayed to peers, want %d", seed, got, toPeerBytes)
		}
	}
}

// checkRuns verifies the shape of every queued run against the rules of
// netio.SendSegments, and that no two open runs of one flow exist where
// the newer could have been merged into the older.
func checkRuns(t *testing.T, o *outbox) {
	t.Helper()
	for k := 0; k < o.nruns; k++ {
		r := &o.runs[k]
		count, total := 0, 0
		for i := r.first; i >= 0; i = o.packets[i].next {
			n := len(o.packets[i].data)
			last := i == r.last
			if n > r.size || (n < r.size && !last) {
				t.Fatalf("run %d: datagram of %d bytes in a run of %d-byte segments (last %v)", k, n, r.size, last)
			}
			count++
			total += n
		}
		if count != r.count || total != r.bytes || count > netio.MaxSegments || total > netio.MaxSegmentsBytes {
			t.Fatalf("run %d: %d datagrams, %d bytes; recorded %d, %d", k, count, total, r.count, r.bytes)
		}
	}
}

// TestOutboxRefusedSegmentsGoOneByOne checks the fallback in a namespace
// whose loopback MTU is 1500: the kernel refuses to segment 1600-byte
// datagrams, so the outbox sends them one by one, where the kernel
// fragments them (and, with DONT-FRAGMENT, refuses each: counted drops).
func TestOutboxRefusedSegmentsGoOneByOne(t *testing.T) {
	leave := netnstest.Enter(t, 1500)
	defer leave()
	// No t.Run: a subtest runs on another goroutine, outside the namespace.
	for _, df := range []bool{false, true} {
		sender, err := netio.ListenUDP(netip.MustParseAddrPort("127.0.0.1:0"), netio.Options{DontFragment: df})
		if err != nil {
			t.Fatal(err)
		}
		defer sender.Close()
		rig := newOutboxRig(t, 0, 1)
		var c counters
		o := newOutbox(&c)
		for range 3 {
			o.add(sender, rig.receivers[0].LocalAddr(), make([]byte, 1600), true)
		}
		if o.nruns != 1 {
			t.Fatalf("df=%v: %d runs for three equal datagrams, want 1", df, o.nruns)
		}
		o.flush()
		if df {
			if d := c.drops[DropSendFailed].Load(); d != 3 {
				t.Fatalf("df=%v: %d drops, want 3", df, d)
			}
			continue
		}
		if got := rig.drain(t, 0, 3); len(got[sender.LocalAddr()]) != 3 {
			t.Fatalf("df=%v: received %v", df, got)
		}
		if p := c.packets[ToPeer][transportUDP].Load(); p != 3 {
			t.Fatalf("df=%v: %d datagrams counted relayed, want 3", df, p)
		}
	}
}

// TestOutboxSplitsAtMaxBytes: a run never exceeds one segmented send's
// bytes; the next datagram starts a new run.
func TestOutboxSplitsAtMaxBytes(t *testing.T) {
	rig := newOutboxRig(t, 1, 1)
	var c counters
	o := newOutbox(&c)
	to := rig.receivers[0].LocalAddr()
	big := make([]byte, 40000)
	o.add(rig.senders[0], to, big, true)
	o.add(rig.senders[0], to, big, true)
	if o.nruns != 2 {
		t.Fatalf("%d runs for two 40000-byte datagrams, want 2", o.nruns)
	}
	o.flush()
	if got := rig.drain(t, 0, 2); len(got[rig.senders[0].LocalAddr()]) != 2 {
		t.Fatalf("received %v", got)
	}
}

// TestOutboxClosedSocketCountsDrops: a socket closed between queueing and
// sending (an allocation deleted later in the same batch) costs drops,
// nothing else.
func TestOutboxClosedSocketCountsDrops(t *testing.T) {
	rig := newOutboxRig(t, 1, 1)
	var c counters
	o := newOutbox(&c)
	to := rig.receivers[0].LocalAddr()
	for range 3 {
		o.add(rig.senders[0], to, make([]byte, 100), true)
	}
	o.add(rig.senders[0], to, make([]byte, 200), true)
	rig.senders[0].Close()
	o.flush()
	if d := c.drops[DropSendFailed].Load(); d != 4 {
		t.Fatalf("%d drops, want 4", d)
	}
	if p := c.packets[ToPeer][transportUDP].Load(); p != 0 {
		t.Fatalf("%d datagrams counted relayed from a closed socket", p)
	}
}

// TestOutboxZeroAllocs: the outbox is on the hot path.
func TestOutboxZeroAllocs(t *testing.T) {
	rig := newOutboxRig(t, 2, 1)
	var c counters
	o := newOutbox(&c)
	to := rig.receivers[0].LocalAddr()
	data := make([]byte, 100)
	b, _ := netio.NewBatch(64, 2048, 0)
	allocs := testing.AllocsPerRun(200, func() {
		for i := range 8 {
			o.add(rig.senders[i%2], to, data, true)
		}
		o.flush()
		for {
			if _, err := rig.receivers[0].RecvBatch(b); err != nil {
				break
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("outbox: %v allocations per batch", allocs)
	}
}

// TestOutboxWithoutSegments: with UDP offload off every datagram is sent
// on its own, in order.
func TestOutboxWithoutSegments(t *testing.T) {
	rig := newOutboxRig(t, 1, 1)
	var c counters
	o := newOutbox(&c)
	o.segments = false
	to := rig.receivers[0].LocalAddr()
	for i := range 5 {
		o.add(rig.senders[0], to, []byte(fmt.Sprintf("datagram %d", i)), true)
	}
	if o.nruns != 5 {
		t.Fatalf("%d runs for 5 datagrams without segmentation, want 5", o.nruns)
	}
	o.flush()
	got := rig.drain(t, 0, 5)[rig.senders[0].LocalAddr()]
	for i, g := range got {
		if g != fmt.Sprintf("datagram %d", i) {
			t.Fatalf("datagram %d is %q", i, g)
		}
	}
}
