package allocation

import (
	"hash/maphash"
	"math/bits"
	"math/rand/v2"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// Table holds the allocations of one relay, indexed by 5-tuple. Create it
// with NewTable. All methods are safe for concurrent use; see the package
// documentation for the locking scheme.
type Table struct {
	cfg    Config
	seed   uint64
	shards []shard
	ledger ledger
	gauges gauges
	// reservations share ledger: a reserved port is a quota unit.
	reservations Reservations
}

// NewTable returns an empty table with the limits of cfg (zero fields take
// their defaults, see Config). It fails if cfg does not validate.
func NewTable(cfg Config) (*Table, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	t := &Table{cfg: cfg, seed: rand.Uint64(), shards: make([]shard, cfg.Shards)}
	t.ledger.seed = maphash.MakeSeed()
	t.reservations.table = t
	for i := range t.shards {
		t.shards[i].byTuple = make(map[tupleKey]*Allocation)
		t.shards[i].table = t
	}
	return t, nil
}

// Config returns the table's configuration with defaults filled in.
func (t *Table) Config() Config { return t.cfg }

// Len returns the number of allocations in the table (see Stats).
func (t *Table) Len() int { return int(t.gauges.allocs.Load()) }

// Reservations returns the table's reserved ports (EVEN-PORT R=1), which
// count against the same quotas as its allocations.
func (t *Table) Reservations() *Reservations { return &t.reservations }

func (t *Table) shardOf(k *tupleKey) *shard {
	i, _ := bits.Mul64(k.hash(t.seed), uint64(len(t.shards)))
	return &t.shards[i]
}

// Lookup returns the allocation on ft that is alive at now, or nil (RFC 8656
// §5). ft need not be canonical. An allocation that expired at or
// before now is not returned even if Expire has not reclaimed it yet.
//
// Data path: one shard read lock, no allocation, safe for concurrent use.
func (t *Table) Lookup(ft FiveTuple, now mono.Time) *Allocation {
	k := tupleKeyOf(ft)
	s := t.shardOf(&k)
	s.mu.RLock()
	a := s.byTuple[k]
	s.mu.RUnlock()
	if a == nil || now >= a.Expires() {
		return nil
	}
	return a
}

// Create adds an allocation described by spec, alive until now +
// spec.Lifetime, with no permissions and no channels (RFC 8656 §7.2).
//
// It fails with ErrInvalidSpec for a malformed spec; ErrExists (437) when
// the 5-tuple has an allocation alive at now; ErrQuota (486) when
// spec.User holds Config.UserQuota units (allocations and reserved ports)
// or the table Config.TotalQuota in all. The quota is checked and taken in
// the same step as the insertion, so concurrent creates never exceed it;
// with spec.Redeemed the unit Reservations.Redeem moved to spec.User is
// spent instead, and given back if Create fails. An allocation on the same 5-tuple
// that expired at or before now is retired (and handed to the shell by the
// next Expire), as are, before answering ErrQuota, any other allocations
// expired at now.
func (t *Table) Create(spec Spec, now mono.Time) (*Allocation, error) {
	a, err := t.newAllocation(&spec, now)
	if err != nil {
		if spec.Redeemed {
			t.ledger.release(spec.User)
		}
		return nil, err
	}
	s := t.shardOf(&a.key)
	err = t.insert(s, a, spec.Redeemed, now)
	if err == ErrQuota && t.retireDue(now) > 0 {
		err = t.insert(s, a, spec.Redeemed, now)
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// CheckQuota reports ErrQuota if user could not take units more quota
// units at now: 1 for an allocation, 2 for one with a reserved port
// (EVEN-PORT R=1). It counts nothing: use it to refuse an Allocate before
// binding relayed sockets; Create and Reservations.Reserve check again
// atomically.
func (t *Table) CheckQuota(user string, units int, now mono.Time) error {
	err := t.ledger.check(user, units, t.cfg.UserQuota, t.cfg.TotalQuota)
	if err != nil && t.retireDue(now) > 0 {
		err = t.ledger.check(user, units, t.cfg.UserQuota, t.cfg.TotalQuota)
	}
	return err
}

func (t *Table) newAllocation(spec *Spec, now mono.Time) (*Allocation, error) {
	ft := spec.FiveTuple.Canonical()
	r4 := canonicalAddrPort(spec.Relayed4)
	r6 := spec.Relayed6
	switch {
	case !ft.Valid(),
		!r4.IsValid() && !r6.IsValid(),
		r4.IsValid() && (!r4.Addr().Is4() || r4.Port() == 0),
		r6.IsValid() && (!r6.Addr().Is6() || r6.Addr().Is4In6() || r6.Port() == 0),
		spec.Lifetime <= 0 || spec.Lifetime > t.cfg.MaxLifetime:
		return nil, ErrInvalidSpec
	}
	a := &Allocation{
		FiveTuple: ft,
		Username:  spec.Username,
		User:      spec.User,
		Realm:     spec.Realm,
		Key:       spec.Key,
		Relayed4:  r4,
		Relayed6:  r6,
		TxID:      spec.TxID,
		Created:   now,
		Ext:       spec.Ext,
		key:       tupleKeyOf(ft),
		heapIndex: -1,
	}
	a.shard = t.shardOf(&a.key)
	a.expires.Store(int64(now.Add(spec.Lifetime)))
	return a, nil
}

// insert puts a into s after the 5-tuple and quota checks. With redeemed,
// a's quota unit is already counted; it is released if a is refused.
func (t *Table) insert(s *shard, a *Allocation, redeemed bool, now mono.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.byTuple[a.key]; old != nil {
		if now < old.Expires() {
			if redeemed {
				t.ledger.release(a.User)
			}
			return ErrExists
		}
		s.retireLocked(old)
	}
	if !redeemed {
		if err := t.ledger.acquire(a.User, t.cfg.UserQuota, t.cfg.TotalQuota); err != nil {
			return err
		}
	}
	s.insertLocked(a)
	t.gauges.allocs.Add(1)
	t.gauges.addRelayed(a, 1)
	return nil
}

// Refresh sets a's time to expiry to lifetime from now (RFC 8656 §8.2),
// which may shorten it. lifetime must be in (0, Config.MaxLifetime]
// (ErrInvalidLifetime otherwise): a Refresh with LIFETIME 0 is a Delete.
// It fails with ErrGone (437) if a is no longer in the table or expired at
// now. Permissions and channels are not touched (RFC 8656 §8).
func (t *Table) Refresh(a *Allocation, lifetime time.Duration, now mono.Time) error {
	if a == nil || a.shard.table != t {
		return ErrGone
	}
	if lifetime <= 0 || lifetime > t.cfg.MaxLifetime {
		return ErrInvalidLifetime
	}
	s := a.shard
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.heapIndex < 0 || now >= a.Expires() {
		return ErrGone
	}
	d := now.Add(lifetime)
	a.expires.Store(int64(d))
	if d < a.wake {
		a.wake = d
		s.up(int(a.heapIndex))
	}
	return nil
}

// Delete removes a from the table at once (Refresh with LIFETIME 0, RFC 8656
// §8.2, §8.3): later lookups of its 5-tuple find nothing, and a is
// Closed. On success the caller owns the clean-up of a.Ext. It fails with
// ErrGone (437) if a is no longer in the table or expired at now; an expired
// allocation is left for Expire, which hands it over.
func (t *Table) Delete(a *Allocation, now mono.Time) error {
	if a == nil || a.shard.table != t {
		return ErrGone
	}
	s := a.shard
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.heapIndex < 0 || now >= a.Expires() {
		return ErrGone
	}
	s.removeLocked(a)
	return nil
}
