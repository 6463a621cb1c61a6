package loadtest

import (
	"sync/atomic"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// counters are the packet counts of one goroutine (a session's receive loop,
// or an open-loop pacer). Each field has a single writer, which increments it
// with a plain atomic store (no locked instruction); any goroutine may read
// it. Counts named "window" only include probes whose send time lies in the
// current measurement window; the "all" counts feed the throughput timeline.
type counters struct {
	sentAll     atomic.Uint64
	receivedAll atomic.Uint64
	sent        atomic.Uint64 // window: probes sent
	received    atomic.Uint64 // window: probes back in time
	lost        atomic.Uint64 // window: closed loop, probes that timed out
	late        atomic.Uint64 // window: probes back after their timeout, or duplicated
	stray       atomic.Uint64 // frames that were not ours: wrong kind, foreign or malformed probes
	writeErrors atomic.Uint64
	readErrors  atomic.Uint64
	// The struct is written by one core at a time; keep neighbours (another
	// goroutine's counters) off its cache lines.
	_ [64]byte
}

// bump adds one to a counter that only the calling goroutine writes.
func bump(c *atomic.Uint64) { c.Store(c.Load() + 1) }

// counts is a plain sum of counters.
type counts struct {
	sentAll, receivedAll, sent, received, lost, late, stray, writeErrors, readErrors uint64
}

func (c *counters) load() counts {
	return counts{
		sentAll: c.sentAll.Load(), receivedAll: c.receivedAll.Load(),
		sent: c.sent.Load(), received: c.received.Load(), lost: c.lost.Load(), late: c.late.Load(),
		stray: c.stray.Load(), writeErrors: c.writeErrors.Load(), readErrors: c.readErrors.Load(),
	}
}

func (a counts) add(b counts) counts {
	return counts{
		sentAll: a.sentAll + b.sentAll, receivedAll: a.receivedAll + b.receivedAll,
		sent: a.sent + b.sent, received: a.received + b.received, lost: a.lost + b.lost, late: a.late + b.late,
		stray: a.stray + b.stray, writeErrors: a.writeErrors + b.writeErrors, readErrors: a.readErrors + b.readErrors,
	}
}

func (a counts) sub(b counts) counts {
	return counts{
		sentAll: a.sentAll - b.sentAll, receivedAll: a.receivedAll - b.receivedAll,
		sent: a.sent - b.sent, received: a.received - b.received, lost: a.lost - b.lost, late: a.late - b.late,
		stray: a.stray - b.stray, writeErrors: a.writeErrors - b.writeErrors, readErrors: a.readErrors - b.readErrors,
	}
}

// window is the measurement window [from, until) in send time. The
// coordinator moves it between phases; senders and receivers read it per
// packet. A probe is measured when its send time lies inside, so its send,
// its return and its loss are all attributed to the same window.
type window struct {
	from, until atomic.Int64
}

// set replaces the window. Readers racing with set may see one old bound for
// a probe sent at that instant; the coordinator only moves the window while
// no measured probe is in flight or at the window's start.
func (w *window) set(from, until mono.Time) {
	w.until.Store(int64(until))
	w.from.Store(int64(from))
}

func (w *window) contains(t mono.Time) bool {
	return int64(t) >= w.from.Load() && int64(t) < w.until.Load()
}
