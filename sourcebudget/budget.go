// Package sourcebudget bounds how many unauthenticated responses one source
// address gets: a token bucket per source (an IPv4 address, or an IPv6 /64)
// in a table of fixed size. It keeps a UDP relay from being a reflector:
// a 20-byte request with a spoofed source would otherwise earn the victim
// a response several times its size (RFC 8489 §6.3.4 and RFC 8656 §21.1.7
// name amplification as the risk of answering unauthenticated requests).
//
// The package decides and does nothing else: it reads no clock (the caller
// passes the time), starts no goroutine and never grows. See
// docs/protocol.md for the defaults and the eviction argument.
package sourcebudget

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// Config sizes the buckets. The zero value of a field means its default.
type Config struct {
	// Rate is how many responses a second a source earns back once its
	// burst is spent.
	Rate int
	// Burst is how many responses a source that has been quiet gets at
	// once.
	Burst int
	// Slots is the number of sources tracked at once, rounded up to a
	// multiple of Ways; the table is allocated whole at New.
	Slots int
}

// Defaults: a browser or softphone spends one or two unauthenticated
// responses per TURN server, transport and network interface when a call
// starts (a Binding answer, the 401 challenge of its Allocate) and a 438 per
// allocation every nonce lifetime; a page with a dozen connections stays
// under 50 at once. 100 at once and 10 a second leave room for a dozen such
// clients behind one NAT address starting together, while a spoofed flood
// earns its victim at most 100 answers (about 10 kB) and then 10 a second.
var Defaults = Config{Rate: 10, Burst: 100, Slots: 16384}

// Ways is the number of slots a source may occupy: the set its keyed hash
// picks. Eviction chooses within the set.
const Ways = 8

// Limits of Config's fields.
const (
	MaxRate  = 1_000_000
	MaxBurst = 1_000_000
	MaxSlots = 1 << 24
)

// Table is the budget of every source. Safe for concurrent use: each set of
// Ways slots has its own lock, so callers on different packet loops contend
// only when their sources hash to the same set. Allow does not allocate.
type Table struct {
	interval int64 // nanoseconds that earn one response back
	span     int64 // Burst × interval: how far a bucket's debt may run ahead of now
	seed     maphash.Seed
	sets     []set
}

// set is Ways slots under one lock. A slot's tat ("theoretical arrival
// time", the generic cell rate algorithm's form of a token bucket) is the
// instant at which its bucket is full again: at or before now the bucket is
// full, and each response moves it one interval further. One int64 per
// source holds the whole bucket.
type set struct {
	mu   sync.Mutex
	keys [Ways]sourceKey
	tat  [Ways]int64
	_    [56]byte // 8 + 8×16 + 8×8 + 56 = 256 bytes: no two sets share a cache line
}

// sourceKey is a source's address, an IPv6 one cut to its /64; IPv4
// addresses keep the ::ffff:0:0/96 prefix, so the two families never meet.
type sourceKey struct{ hi, lo uint64 }

// empty marks a slot nobody holds: its bucket is full at any time, so it is
// the first chosen for a new source.
const empty = math.MinInt64

// New returns a table sized by cfg (zero fields take Defaults).
func New(cfg Config) (*Table, error) {
	if cfg.Rate == 0 {
		cfg.Rate = Defaults.Rate
	}
	if cfg.Burst == 0 {
		cfg.Burst = Defaults.Burst
	}
	if cfg.Slots == 0 {
		cfg.Slots = Defaults.Slots
	}
	switch {
	case cfg.Rate < 0 || cfg.Rate > MaxRate:
		return nil, errors.New("sourcebudget: Rate out of range")
	case cfg.Burst < 0 || cfg.Burst > MaxBurst:
		return nil, errors.New("sourcebudget: Burst out of range")
	case cfg.Slots < 0 || cfg.Slots > MaxSlots:
		return nil, errors.New("sourcebudget: Slots out of range")
	}
	interval := int64(time.Second) / int64(cfg.Rate)
	t := &Table{
		interval: interval,
		span:     int64(cfg.Burst) * interval,
		seed:     maphash.MakeSeed(),
		sets:     make([]set, (cfg.Slots+Ways-1)/Ways),
	}
	for i := range t.sets {
		for j := range t.sets[i].tat {
			t.sets[i].tat[j] = empty
		}
	}
	return t, nil
}

// Allow reports whether src may be sent one more unauthenticated response
// at now, and if so spends it. Loopback sources are always allowed: the
// kernel drops packets from the wire that claim them, so they cannot be
// spoofed from outside the host.
func (t *Table) Allow(src netip.Addr, now mono.Time) bool {
	src = src.Unmap()
	if src.IsLoopback() || !src.IsValid() {
		return true
	}
	k := keyOf(src)
	s := &t.sets[t.setOf(k)]
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.slotFor(k)
	tat := max(s.tat[i], int64(now))
	if tat+t.interval-int64(now) > t.span {
		return false
	}
	s.tat[i] = tat + t.interval
	return true
}

// slotFor returns the slot holding k, or takes one for it: the slot whose
// bucket is fullest (smallest tat). A full bucket tells nothing, so taking
// it loses nothing; a drained one is taken only when every other slot of
// its set is drained further, which is how an attacker would have to reset
// its victim's bucket — by draining a whole set it cannot name (the hash is
// keyed), in practice the whole table. Called with s.mu held.
func (s *set) slotFor(k sourceKey) int {
	victim := 0
	for i := range s.keys {
		if s.keys[i] == k && s.tat[i] != empty {
			return i
		}
		if s.tat[i] < s.tat[victim] {
			victim = i
		}
	}
	s.keys[victim], s.tat[victim] = k, empty
	return victim
}

// setOf picks k's set with a hash keyed by a per-table random seed, so
// which sources share a set cannot be predicted from outside.
func (t *Table) setOf(k sourceKey) int {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], k.hi)
	binary.LittleEndian.PutUint64(b[8:], k.lo)
	return int(maphash.Bytes(t.seed, b[:]) % uint64(len(t.sets)))
}

// keyOf is src's budget key: the address for IPv4, its /64 for IPv6 (one
// host may use any address of its /64, RFC 8981).
func keyOf(src netip.Addr) sourceKey {
	b := src.As16()
	k := sourceKey{hi: binary.BigEndian.Uint64(b[:8])}
	if src.Is4() {
		k.lo = binary.BigEndian.Uint64(b[8:])
	}
	return k
}

// Slots returns the number of sources the table tracks at once.
func (t *Table) Slots() int { return len(t.sets) * Ways }
