package allocation

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// ledgerShards is the number of independently locked parts of the per-user
// allocation counts.
const ledgerShards = 16

// ledger counts live allocations per user and in total, and enforces the
// quotas (RFC 8656 §5, §7.2 step 10). acquire checks and counts in one step,
// so concurrent creates can never overshoot a quota. It has no global lock:
// users are spread over ledgerShards mutexes and the total is an atomic
// counter updated by compare-and-swap.
type ledger struct {
	total  atomic.Int64
	seed   maphash.Seed
	shards [ledgerShards]ledgerShard
}

type ledgerShard struct {
	mu sync.Mutex
	// count holds users with at least one live allocation; a user whose
	// count drops to zero is deleted, so the map does not grow with churn.
	// String keys are fine here: this is the control path, not per packet.
	count map[string]int32
	_     [64]byte // keep neighbouring mutexes off one cache line
}

func (l *ledger) shard(user string) *ledgerShard {
	return &l.shards[maphash.String(l.seed, user)%ledgerShards]
}

// acquire counts one more allocation for user unless that would exceed
// userQuota or totalQuota (0 = unlimited), in which case it returns
// ErrQuota and counts nothing.
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
	if ls.count == nil {
		ls.count = make(map[string]int32)
	}
	ls.count[user]++
	return nil
}

// release uncounts one allocation of user.
func (l *ledger) release(user string) {
	ls := l.shard(user)
	ls.mu.Lock()
	if n := ls.count[user]; n > 1 {
		ls.count[user] = n - 1
	} else {
		delete(ls.count, user)
	}
	ls.mu.Unlock()
	l.total.Add(-1)
}

// check reports ErrQuota if acquire would fail right now, without counting.
func (l *ledger) check(user string, userQuota, totalQuota int) error {
	if totalQuota > 0 && l.total.Load() >= int64(totalQuota) {
		return ErrQuota
	}
	if userQuota > 0 && l.user(user) >= userQuota {
		return ErrQuota
	}
	return nil
}

// user returns the live allocations counted for user.
func (l *ledger) user(user string) int {
	ls := l.shard(user)
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return int(ls.count[user])
}
