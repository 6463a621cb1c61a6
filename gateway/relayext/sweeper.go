package relayext

import (
	"container/heap"
	"sync"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// sweeper retires expired gateway NAT flows and forgets old tombstones
// (gateway.Session.Expire) when the relay's housekeeping timer calls
// Extension.Sweep, which reports the earliest deadline queued so the relay
// re-arms its one timer for it: no timer or goroutine of its own, none per
// flow or per allocation.
//
// Decisions never depend on it: the core treats overdue flows as expired on
// lookup. It only reclaims memory, so an allocation idle after its last
// datagram does not hold its flows until it ends. A deadline that a new
// flow moves earlier is seen at the relay's next run (at most a second
// away).
//
// The queue holds (deadline, session) entries. A session's entry goes stale
// when its deadline moves; stale entries are recognised on expiry (the
// deadline no longer matches session.scheduled) and skipped.
type sweeper struct {
	mu    sync.Mutex
	queue deadlineQueue
	due   []deadlineEntry // sweep's scratch; only the housekeeping timer sweeps
}

// schedule asks for s to be expired at at. Called with s.mu held (lock
// order: session.mu, then sweeper.mu).
func (sw *sweeper) schedule(s *session, at mono.Time) {
	sw.mu.Lock()
	heap.Push(&sw.queue, deadlineEntry{at: at, s: s})
	sw.mu.Unlock()
}

// sweep expires the sessions whose deadlines are due at now and returns
// the earliest deadline left.
func (sw *sweeper) sweep(now mono.Time) (mono.Time, bool) {
	sw.due = sw.takeDue(now, sw.due[:0])
	for _, e := range sw.due {
		e.s.expire(e.at, now)
	}
	clear(sw.due) // let closed sessions be collected
	return sw.next()
}

// takeDue removes the entries due at now and appends them to out.
func (sw *sweeper) takeDue(now mono.Time, out []deadlineEntry) []deadlineEntry {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	for len(sw.queue) > 0 && sw.queue[0].at <= now {
		out = append(out, heap.Pop(&sw.queue).(deadlineEntry))
	}
	return out
}

// next returns the earliest deadline queued.
func (sw *sweeper) next() (mono.Time, bool) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if len(sw.queue) == 0 {
		return 0, false
	}
	return sw.queue[0].at, true
}

// expire runs the core's Expire for the sweeper's entry at, unless the
// entry went stale, and schedules the session's next deadline.
func (s *session) expire(at, now mono.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.scheduled != at {
		return // a later schedule superseded this entry, or the session closed
	}
	s.scheduled = 0
	s.core.Expire(now)
	s.afterCall()
}

// deadlineEntry is one queued expiry.
type deadlineEntry struct {
	at mono.Time
	s  *session
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
