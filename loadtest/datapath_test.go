package loadtest

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// step is one turn of the closed loop without the blocking read: take what
// came back, match it, relaunch, write.
func step(l *closedLoop, now mono.Time) {
	frames, _ := l.s.cl.conn.readFrames()
	for _, f := range frames {
		if p, ok := l.s.onFrame(f, now); ok {
			l.onProbe(p, now)
		}
	}
	l.flush()
}

func TestClosedLoopStepAllocatesNothing(t *testing.T) {
	for _, path := range []SendPath{SendChannel, SendIndication} {
		t.Run(string(path), func(t *testing.T) {
			r, s, _ := fakeSession(t, path, 4)
			l := newClosedLoop(r, s, 1<<62)
			now := mono.Now()
			for i := range l.slots {
				l.launch(i, now)
			}
			l.flush()
			allocs := testing.AllocsPerRun(1000, func() { step(l, now+1000) })
			if allocs != 0 {
				t.Fatalf("%v allocations per step", allocs)
			}
			c := s.cnt.load()
			if c.received == 0 || c.received != c.receivedAll || c.stray != 0 || c.lost != 0 {
				t.Fatalf("counts %+v", c)
			}
			if got := r.hist.Snapshot().Total(); got != c.received {
				t.Fatalf("%d RTT samples for %d probes", got, c.received)
			}
		})
	}
}

// TestClosedLoopLossAndLateness drops one probe, expires it, then delivers
// a stale copy: it must count as lost once and late once, and its slot must
// carry on with a new probe.
func TestClosedLoopLossAndLateness(t *testing.T) {
	r, s, conn := fakeSession(t, SendChannel, 2)
	conn.drop = map[int]bool{1: true}
	l := newClosedLoop(r, s, 1<<62)
	t0 := mono.Time(1000)
	for i := range l.slots {
		l.launch(i, t0)
	}
	l.flush() // probe 1 (slot 0) is dropped, probe 2 (slot 1) echoes
	step(l, t0+10)
	if c := s.cnt.load(); c.received != 1 || c.lost != 0 {
		t.Fatalf("after first step: %+v", c)
	}
	stale := append([]byte(nil), l.slots[0].frame...)
	l.expire(t0 + mono.Time(r.cfg.PacketTimeout))
	if c := s.cnt.load(); c.lost != 1 || !l.slots[0].busy || l.slots[0].seq == 1 {
		t.Fatalf("after expiry: %+v, slot %+v", c, l.slots[0])
	}
	if p, ok := s.onFrame(stale, t0+mono.Time(r.cfg.PacketTimeout)+1); ok {
		l.onProbe(p, t0+mono.Time(r.cfg.PacketTimeout)+1)
	}
	if c := s.cnt.load(); c.late != 1 || c.lost != 1 {
		t.Fatalf("after stale copy: %+v", c)
	}
}

// TestClosedLoopBudget stops launching when the MaxPackets share is spent.
func TestClosedLoopBudget(t *testing.T) {
	r, s, _ := fakeSession(t, SendChannel, 4)
	l := newClosedLoop(r, s, 6)
	now := mono.Time(1)
	for i := range l.slots {
		l.launch(i, now)
	}
	l.flush()
	for i := 0; i < 5 && !l.idle(); i++ {
		step(l, now+1)
	}
	if !l.idle() || s.cnt.load().sentAll != 6 || s.cnt.load().received != 6 {
		t.Fatalf("idle %v counts %+v", l.idle(), s.cnt.load())
	}
}

func TestOnFrameRejectsForeignData(t *testing.T) {
	_, s, _ := fakeSession(t, SendChannel, 1)
	frame := make([]byte, s.frameSize())
	var txid [12]byte
	s.fillFrame(frame, &txid, probe{session: 99, seq: 1, sent: 5})
	if _, ok := s.onFrame(frame, 10); ok {
		t.Fatal("probe of another allocation accepted")
	}
	s.fillFrame(frame, &txid, probe{session: uint32(s.id), seq: 1, sent: 5})
	other := append([]byte(nil), frame...)
	other[1] = 0x01 // channel 0x4001 is not ours
	for name, f := range map[string][]byte{"other channel": other, "garbage": {0xff, 1, 2, 3}, "truncated": frame[:10]} {
		if _, ok := s.onFrame(f, 10); ok {
			t.Fatalf("%s accepted", name)
		}
	}
	if s.cnt.load().stray != 4 {
		t.Fatalf("stray %d, want 4", s.cnt.load().stray)
	}
	if p, ok := s.onFrame(frame, 10); !ok || p.seq != 1 {
		t.Fatal("own probe rejected")
	}
}

// TestUDPConnAndEchoPool sends probes through a real echo peer with the
// batched UDP connection: what goes out comes back unchanged, the echo
// counter follows, and the round trip does not allocate on either side.
func TestUDPConnAndEchoPool(t *testing.T) {
	pool, err := startEchoPool(netip.MustParseAddr("127.0.0.1"), 2, 2048, true)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.close()
	if pool.addr(0) == pool.addr(1) || pool.addr(0) != pool.addr(2) {
		t.Fatalf("echo addresses %v %v %v", pool.addr(0), pool.addr(1), pool.addr(2))
	}
	conn := dialTestConn(t, pool.addr(1), 4)

	out := [][]byte{bytes.Repeat([]byte{1}, 100), bytes.Repeat([]byte{2}, 300), {}}
	if err := conn.writeFrames(out); err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	for len(got) < len(out) {
		frames, err := conn.readFrames()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames {
			got = append(got, append([]byte{}, f...))
		}
	}
	for i := range out {
		if !bytes.Equal(got[i], out[i]) {
			t.Fatalf("datagram %d came back as %x", i, got[i])
		}
	}
	// The echo goroutine counts after sending, so the datagrams may be back
	// a moment before the count.
	for start := time.Now(); pool.total() != 3; time.Sleep(time.Millisecond) {
		if time.Since(start) > 2*time.Second {
			t.Fatalf("echo count %d, want 3", pool.total())
		}
	}

	frame := [][]byte{make([]byte, 100)}
	allocs := testing.AllocsPerRun(200, func() {
		if err := conn.writeFrames(frame); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.readFrames(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per round trip", allocs)
	}
}

func BenchmarkClosedLoopStep(b *testing.B) {
	for _, path := range []SendPath{SendChannel, SendIndication} {
		b.Run(string(path), func(b *testing.B) {
			r, s, _ := fakeSession(b, path, 4)
			l := newClosedLoop(r, s, 1<<62)
			now := mono.Now()
			for i := range l.slots {
				l.launch(i, now)
			}
			l.flush()
			b.ReportAllocs()
			for b.Loop() {
				step(l, now+1000)
			}
		})
	}
}

func BenchmarkUDPEchoRoundTrip(b *testing.B) {
	pool, err := startEchoPool(netip.MustParseAddr("127.0.0.1"), 1, 2048, true)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.close()
	conn := dialTestConn(b, pool.addr(0), 8)
	frames := [][]byte{make([]byte, 104), make([]byte, 104), make([]byte, 104), make([]byte, 104)}
	b.ReportAllocs()
	for b.Loop() {
		conn.writeFrames(frames)
		for n := 0; n < len(frames); {
			fs, err := conn.readFrames()
			if err != nil {
				b.Fatal(err)
			}
			n += len(fs)
		}
	}
}
