package allocation

import "github.com/turnstile-relay/turnstile/internal/mono"

// Expire does all the time-driven work due at now and returns dst with every
// allocation that has left the table by expiring (deadline at or before
// now) appended. It also reclaims the permissions and channel bindings that
// expired at now and ends the reuse delay of old channel bindings, updating
// Stats. The caller owns the clean-up of the returned allocations (close
// relayed sockets, emit events); each is returned once and is Closed.
//
// The shell calls Expire when its timer, armed to NextDeadline, fires; any
// other time is also correct. dst may be nil; pass a reused slice to avoid
// allocating. Shards with nothing due are skipped under a read lock.
func (t *Table) Expire(now mono.Time, dst []*Allocation) []*Allocation {
	for i := range t.shards {
		s := &t.shards[i]
		if !s.due(now) {
			continue
		}
		s.mu.Lock()
		s.reapLocked(now)
		dst = append(dst, s.retired...)
		clear(s.retired)
		s.retired = s.retired[:0]
		s.mu.Unlock()
	}
	return dst
}

// NextDeadline returns the earliest time at which Expire has work to do, or
// ok false if the table is empty. The shell arms its one timer to it, and
// re-reads it after Expire and after any Create, Refresh, Permit or Bind
// (each may add an earlier deadline). The time may be earlier than the
// next real expiry (a refreshed allocation's old deadline) or already past
// (an allocation retired by Create waits for Expire); an Expire at that time
// is then cheap and re-arms exactly. It takes each shard's read lock once.
func (t *Table) NextDeadline() (mono.Time, bool) {
	var next mono.Time
	found := false
	for i := range t.shards {
		if d, ok := t.shards[i].nextDeadline(); ok && (!found || d < next) {
			next, found = d, true
		}
	}
	return next, found
}

// retireDue retires the allocations expired at now in every shard and
// returns how many there were. They wait in their shard for Expire.
func (t *Table) retireDue(now mono.Time) int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		if !s.due(now) {
			continue
		}
		s.mu.Lock()
		n += s.reapLocked(now)
		s.mu.Unlock()
	}
	return n
}
