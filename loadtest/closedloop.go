package loadtest

import (
	"crypto/rand"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// slot is one probe in flight in closed loop, with its own frame buffer so a
// batch of slots can be written in one system call.
type slot struct {
	seq   uint64
	sent  mono.Time
	busy  bool
	frame []byte
	txid  [12]byte
}

// closedLoop keeps InFlight probes in flight on one session: each probe that
// returns (or times out) is replaced by a new one at once. It runs on the
// session's goroutine and owns everything it touches except the shared
// window, stop flag and histogram.
type closedLoop struct {
	r       *runState
	s       *session
	slots   []slot
	batch   [][]byte
	seq     uint64
	budget  uint64 // probes this session may still send
	timeout time.Duration
}

func newClosedLoop(r *runState, s *session, budget uint64) *closedLoop {
	w := r.cfg.InFlight
	l := &closedLoop{r: r, s: s, slots: make([]slot, w), batch: make([][]byte, 0, w), budget: budget, timeout: r.cfg.PacketTimeout}
	size := s.frameSize()
	backing := make([]byte, w*size)
	for i := range l.slots {
		l.slots[i].frame = backing[i*size : (i+1)*size : (i+1)*size]
		rand.Read(l.slots[i].txid[:])
	}
	return l
}

// launch sends a new probe from slot i (queued in the batch).
func (l *closedLoop) launch(i int, now mono.Time) {
	sl := &l.slots[i]
	if l.budget == 0 {
		sl.busy = false
		return
	}
	l.budget--
	l.seq++
	sl.seq, sl.sent, sl.busy = l.seq, now, true
	l.s.fillFrame(sl.frame, &sl.txid, probe{slot: uint16(i), session: uint32(l.s.id), seq: l.seq, sent: now})
	l.batch = append(l.batch, sl.frame)
	bump(&l.s.cnt.sentAll)
	if l.r.win.contains(now) {
		bump(&l.s.cnt.sent)
	}
}

// flush writes the queued probes.
func (l *closedLoop) flush() {
	if len(l.batch) == 0 {
		return
	}
	if err := l.s.cl.conn.writeFrames(l.batch); err != nil {
		bump(&l.s.cnt.writeErrors)
	}
	l.batch = l.batch[:0]
}

// onProbe matches a returning probe with its slot. A probe whose slot has
// moved on (it timed out and was replaced) is late.
func (l *closedLoop) onProbe(p probe, now mono.Time) {
	if int(p.slot) >= len(l.slots) {
		bump(&l.s.cnt.stray)
		return
	}
	sl := &l.slots[p.slot]
	if !sl.busy || sl.seq != p.seq {
		if l.r.win.contains(p.sent) {
			bump(&l.s.cnt.late)
		}
		return
	}
	rtt := now.Sub(sl.sent)
	measured := l.r.win.contains(sl.sent)
	switch {
	case rtt >= l.timeout:
		// Back, but after its deadline: lost by definition.
		if measured {
			bump(&l.s.cnt.lost)
		}
	case measured:
		bump(&l.s.cnt.received)
		l.r.hist.Record(l.s.id, int64(rtt))
	}
	l.launch(int(p.slot), now)
}

// expire declares lost every probe older than the timeout and replaces it.
func (l *closedLoop) expire(now mono.Time) {
	for i := range l.slots {
		sl := &l.slots[i]
		if sl.busy && now.Sub(sl.sent) >= l.timeout {
			if l.r.win.contains(sl.sent) {
				bump(&l.s.cnt.lost)
			}
			l.launch(i, now)
		}
	}
}

// nextWake is when the loop must run even if nothing arrives: the oldest
// probe's timeout or the next refresh round.
func (l *closedLoop) nextWake(now mono.Time) mono.Time {
	wake := now.Add(time.Hour)
	for i := range l.slots {
		if sl := &l.slots[i]; sl.busy {
			wake = min(wake, sl.sent.Add(l.timeout))
		}
	}
	if l.s.refresh.interval > 0 {
		wake = min(wake, l.s.refresh.next)
	}
	return wake
}

func (l *closedLoop) idle() bool {
	for i := range l.slots {
		if l.slots[i].busy {
			return false
		}
	}
	return true
}

// run is the loop. The read deadline is armed at the oldest probe's timeout;
// since probes are only ever replaced by newer ones, that instant only moves
// later, so the deadline is re-armed when it fires rather than per packet.
func (l *closedLoop) run() {
	now := mono.Now()
	for i := range l.slots {
		l.launch(i, now)
	}
	l.flush()
	wake := l.nextWake(now)
	l.r.arm(l.s, now, wake)
	for !l.r.stop.Load() && !l.idle() {
		frames, err := l.s.cl.conn.readFrames()
		now = mono.Now()
		timedOut := false
		if err != nil {
			if timedOut = isTimeout(err); !timedOut && !l.r.survive(l.s, err) {
				return
			}
		}
		for _, f := range frames {
			if p, ok := l.s.onFrame(f, now); ok {
				l.onProbe(p, now)
			}
		}
		if timedOut || !now.Before(wake) {
			l.expire(now)
			if l.s.refresh.due(now) {
				l.s.refresh.start(l.s, now)
			}
			wake = l.nextWake(now)
			l.r.arm(l.s, now, wake)
		}
		l.flush()
	}
}
