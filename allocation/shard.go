package allocation

import (
	"sync"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// shard is one independently locked part of the table: a slice of the
// 5-tuple map and the deadline queue of the allocations in it.
type shard struct {
	mu sync.RWMutex
	// byTuple holds the allocations of this shard that are in the table.
	byTuple map[tupleKey]*Allocation
	// queue is a binary min-heap of byTuple's allocations ordered by wake
	// (Allocation.heapIndex is each one's position): the next time this
	// shard has work to do is queue[0].wake.
	queue []*Allocation
	// retired holds allocations that expired and left the table before the
	// shell's Expire call (Create over an expired 5-tuple, a quota check
	// reclaiming room). The next Expire hands them over; retiredAt is the
	// earliest of their deadlines, for NextDeadline.
	retired   []*Allocation
	retiredAt mono.Time
	table     *Table
	// Padding keeps neighbouring shards' locks off one cache line, so
	// readers on different cores do not slow each other down.
	_ [64]byte
}

// lowerWake makes sure a's queue entry fires no later than d. Called
// without locks after a change under a.mu that created an event at d;
// if a has left the table meanwhile there is nothing to do.
func (s *shard) lowerWake(a *Allocation, d mono.Time) {
	s.mu.RLock()
	early := a.heapIndex < 0 || a.wake <= d
	s.mu.RUnlock()
	if early {
		return
	}
	s.mu.Lock()
	if a.heapIndex >= 0 && d < a.wake {
		a.wake = d
		s.up(int(a.heapIndex))
	}
	s.mu.Unlock()
}

// insertLocked adds a to the map and the queue. Called with s.mu held.
func (s *shard) insertLocked(a *Allocation) {
	s.byTuple[a.key] = a
	a.wake = a.Expires()
	a.heapIndex = int32(len(s.queue))
	s.queue = append(s.queue, a)
	s.up(int(a.heapIndex))
}

// removeLocked takes a out of the table: map, queue, quota, gauges, and
// closes it. Called with s.mu held; a must be in the table.
func (s *shard) removeLocked(a *Allocation) {
	delete(s.byTuple, a.key)
	s.dequeue(int(a.heapIndex))
	a.mu.Lock()
	a.closeLocked(&s.table.gauges)
	a.mu.Unlock()
	s.table.ledger.release(a.User)
	s.table.gauges.allocs.Add(-1)
	s.table.gauges.addRelayed(a, -1)
}

// retireLocked removes an expired allocation and keeps it for the next
// Expire call. Called with s.mu held.
func (s *shard) retireLocked(a *Allocation) {
	s.removeLocked(a)
	if len(s.retired) == 0 || a.Expires() < s.retiredAt {
		s.retiredAt = a.Expires()
	}
	s.retired = append(s.retired, a)
}

// reapLocked does every piece of work due at now: allocations expired at
// now are retired, allocations with an expired permission or channel have
// those purged and their queue entry re-keyed to their next event. It
// returns the number of allocations retired. Called with s.mu held.
func (s *shard) reapLocked(now mono.Time) int {
	n := 0
	for len(s.queue) > 0 && s.queue[0].wake <= now {
		a := s.queue[0]
		if a.Expires() <= now {
			s.retireLocked(a)
			n++
			continue
		}
		a.mu.Lock()
		next := a.Expires()
		if d, ok := a.purgePermsLocked(now); ok && d < next {
			next = d
		}
		if d, ok := a.purgeChansLocked(now); ok && d < next {
			next = d
		}
		a.mu.Unlock()
		a.wake = next
		s.down(0)
	}
	return n
}

// due reports, under a read lock, whether s has work at now.
func (s *shard) due(now mono.Time) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.retired) > 0 || len(s.queue) > 0 && s.queue[0].wake <= now
}

// nextDeadline returns the earliest time s has work to do.
func (s *shard) nextDeadline() (mono.Time, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch {
	case len(s.retired) > 0:
		return s.retiredAt, true
	case len(s.queue) > 0:
		return s.queue[0].wake, true
	}
	return 0, false
}

// dequeue removes the queue entry at i. Called with s.mu held.
func (s *shard) dequeue(i int) {
	last := len(s.queue) - 1
	a := s.queue[i]
	if i != last {
		s.swap(i, last)
	}
	s.queue[last] = nil
	s.queue = s.queue[:last]
	a.heapIndex = -1
	if i != last {
		s.down(i)
		s.up(i)
	}
}

func (s *shard) swap(i, j int) {
	q := s.queue
	q[i], q[j] = q[j], q[i]
	q[i].heapIndex = int32(i)
	q[j].heapIndex = int32(j)
}

func (s *shard) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if s.queue[parent].wake <= s.queue[i].wake {
			return
		}
		s.swap(i, parent)
		i = parent
	}
}

func (s *shard) down(i int) {
	n := len(s.queue)
	for {
		least := i
		if l := 2*i + 1; l < n && s.queue[l].wake < s.queue[least].wake {
			least = l
		}
		if r := 2*i + 2; r < n && s.queue[r].wake < s.queue[least].wake {
			least = r
		}
		if least == i {
			return
		}
		s.swap(i, least)
		i = least
	}
}
