package relay

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// gatewaySweeper retires expired gateway NAT flows and forgets old
// tombstones (gateway.Session.Expire) with one goroutine and one timer for
// the whole relay, armed to the earliest deadline of any allocation — not a
// timer per flow or per allocation (style: one deadline queue).
//
// Decisions never depend on it: the core treats overdue flows as expired on
// lookup. It only reclaims memory, so an allocation idle after its last
// datagram does not hold its flows until it ends.
//
// The queue holds (deadline, session) entries. A session's entry goes stale
// when its deadline moves; stale entries are recognised on expiry (the
// deadline no longer matches gatewaySession.scheduled) and skipped.
type gatewaySweeper struct {
	mu    sync.Mutex
	queue deadlineQueue
	wake  chan struct{} // capacity 1: "the earliest deadline moved earlier"
	clock mono.Clock
}

func (sw *gatewaySweeper) init(clock mono.Clock) {
	sw.wake = make(chan struct{}, 1)
	sw.clock = clock
}

// schedule asks for gs to be expired at at. Called with gs.mu held (lock
// order: gatewaySession.mu, then gatewaySweeper.mu).
func (sw *gatewaySweeper) schedule(gs *gatewaySession, at mono.Time) {
	sw.mu.Lock()
	heap.Push(&sw.queue, deadlineEntry{at: at, gs: gs})
	earliest := sw.queue[0].gs == gs && sw.queue[0].at == at
	sw.mu.Unlock()
	if earliest {
		select {
		case sw.wake <- struct{}{}:
		default:
		}
	}
}

// run expires sessions as their deadlines pass until ctx ends.
func (sw *gatewaySweeper) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var due []deadlineEntry
	for {
		now := sw.clock.Now()
		due = sw.takeDue(now, due[:0])
		for _, e := range due {
			e.gs.expire(e.at, now)
		}
		clear(due) // let closed sessions be collected
		wait := time.Hour
		if next, ok := sw.next(); ok {
			wait = max(next.Sub(sw.clock.Now()), time.Millisecond)
		}
		timer.Reset(wait) // go ≥ 1.23: Reset discards a stale expiry
		select {
		case <-ctx.Done():
			return
		case <-sw.wake:
		case <-timer.C:
		}
	}
}

// takeDue removes the entries due at now and appends them to out.
func (sw *gatewaySweeper) takeDue(now mono.Time, out []deadlineEntry) []deadlineEntry {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	for len(sw.queue) > 0 && sw.queue[0].at <= now {
		out = append(out, heap.Pop(&sw.queue).(deadlineEntry))
	}
	return out
}

// next returns the earliest deadline queued.
func (sw *gatewaySweeper) next() (mono.Time, bool) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if len(sw.queue) == 0 {
		return 0, false
	}
	return sw.queue[0].at, true
}

// expire runs the core's Expire for the sweeper's entry at, unless the
// entry went stale, and schedules the session's next deadline.
func (gs *gatewaySession) expire(at, now mono.Time) {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.scheduled != at {
		return // a later schedule superseded this entry, or the session closed
	}
	gs.scheduled = 0
	gs.core.Expire(now)
	gs.afterCall()
}

// deadlineEntry is one queued expiry.
type deadlineEntry struct {
	at mono.Time
	gs *gatewaySession
}

// deadlineQueue is a min-heap of entries by deadline (container/heap).
type deadlineQueue []deadlineEntry

func (q deadlineQueue) Len() int           { return len(q) }
func (q deadlineQueue) Less(i, j int) bool { return q[i].at < q[j].at }
func (q deadlineQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *deadlineQueue) Push(x any)        { *q = append(*q, x.(deadlineEntry)) }
func (q *deadlineQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = deadlineEntry{}
	*q = old[:len(old)-1]
	return e
}
