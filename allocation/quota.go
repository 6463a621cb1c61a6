package allocation

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// ledgerShards is the number of independently locked parts of the per-user
// quota counts.
const ledgerShards = 16

// ledger counts quota units per user and in total, and enforces the quotas
// (RFC 8656 §5, §7.2 step 10). A unit is a live allocation, a relayed port
// held under a RESERVATION-TOKEN, or a reservation redeemed for an
// allocation not yet created: everything that holds a relayed port counts.
// acquire checks and counts in one step, so concurrent creates can never
// overshoot a quota. It has no global lock: users are spread over
// ledgerShards mutexes and the total is an atomic counter updated by
// compare-and-swap.
type ledger struct {
	total  atomic.Int64
	seed   maphash.Seed
	shards [ledgerShards]ledgerShard
}

type ledgerShard struct {
	mu sync.Mutex
	// count holds users with at least one unit; a user whose count drops
	// to zero is deleted, so the map does not grow with churn. String keys
	// are fine here: this is the control path, not per packet.
	count map[string]int32
	_     [64]byte // keep neighbouring mutexes off one cache line
}

func (l *ledger) shardIndex(user string) int {
	return int(maphash.String(l.seed, user) % ledgerShards)
}

func (l *ledger) shard(user string) *ledgerShard {
	return &l.shards[l.shardIndex(user)]
}

// acquire counts one more unit for user unless that would exceed userQuota
// or totalQuota (0 = unlimited), in which case it returns ErrQuota and
// counts nothing.
func (l *ledger) acquire(user string, userQuota, totalQuota int) error {
	ls := l.shard(user)
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if userQuota > 0 && int(ls.count[user]) >= userQuota {
		return ErrQuota
	}
	for {
		n := l.total.Load()
		if totalQuota > 0 && n >= int64(totalQuota) {
			return ErrQuota
		}
		if l.total.CompareAndSwap(n, n+1) {
			break
		}
	}
	ls.addLocked(user, 1)
	return nil
}

// release uncounts one unit of user.
func (l *ledger) release(user string) {
	ls := l.shard(user)
	ls.mu.Lock()
	ls.addLocked(user, -1)
	ls.mu.Unlock()
	l.total.Add(-1)
}

// transfer moves one unit from one user to another, unless to already
// holds userQuota units (ErrQuota, nothing moves). The total is unchanged,
// so the total quota needs no check; a unit moved to its own holder is a
// no-op that always succeeds.
func (l *ledger) transfer(from, to string, userQuota int) error {
	if from == to {
		return nil
	}
	i, j := l.shardIndex(from), l.shardIndex(to)
	// Two shards are locked in index order, so transfers in opposite
	// directions cannot deadlock.
	first, second := &l.shards[min(i, j)], &l.shards[max(i, j)]
	first.mu.Lock()
	defer first.mu.Unlock()
	if i != j {
		second.mu.Lock()
		defer second.mu.Unlock()
	}
	dst := &l.shards[j]
	if userQuota > 0 && int(dst.count[to]) >= userQuota {
		return ErrQuota
	}
	l.shards[i].addLocked(from, -1)
	dst.addLocked(to, 1)
	return nil
}

// addLocked changes user's count by delta. Called with ls.mu held.
func (ls *ledgerShard) addLocked(user string, delta int32) {
	n := ls.count[user] + delta
	if n <= 0 {
		delete(ls.count, user)
		return
	}
	if ls.count == nil {
		ls.count = make(map[string]int32)
	}
	ls.count[user] = n
}

// check reports ErrQuota if acquiring units more for user would fail right
// now, without counting.
func (l *ledger) check(user string, units, userQuota, totalQuota int) error {
	if totalQuota > 0 && l.total.Load()+int64(units) > int64(totalQuota) {
		return ErrQuota
	}
	if userQuota > 0 && l.user(user)+units > userQuota {
		return ErrQuota
	}
	return nil
}

// user returns the units counted for user.
func (l *ledger) user(user string) int {
	ls := l.shard(user)
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return int(ls.count[user])
}
