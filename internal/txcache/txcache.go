// Package txcache remembers the responses the relay sent to recent STUN
// requests so that a retransmitted request gets the very same answer.
//
// RFC 8489 §6.3.1 and RFC 8656 §5: over UDP a client retransmits a request
// whose response was lost; the server must either reprocess it idempotently
// or answer from a cache kept for about 40 s. Reprocessing is not enough for
// TURN (a retransmitted Allocate would meet its own allocation and get 437,
// a retransmitted Refresh with LIFETIME 0 would meet none), so the relay
// answers from this cache first.
//
// The cache is bounded in entries, not only in time, so a request flood cannot
// grow it: each shard is a ring, and the oldest entry is overwritten when the
// ring is full. Losing an entry early only means a retransmission is processed
// again, which every method tolerates. Entries past their TTL are released as
// new ones arrive, so the memory held follows the request rate over the last
// TTL rather than creeping up to the ring's worst case on a relay that is busy
// for a while.
package txcache

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// DefaultTTL is how long a response is kept: RFC 8489 §6.3.1 suggests 40 s,
// the time a client keeps retransmitting (Rc × RTO).
const DefaultTTL = 40 * time.Second

// Key identifies a transaction: the 5-tuple it arrived on and its ID. It is
// fixed-size and pointer-free so the maps holding it are not scanned by the GC.
type Key struct {
	client, server [16]byte
	clientPort     uint16
	serverPort     uint16
	transport      uint8
	txid           [12]byte
}

// MakeKey builds a Key. IPv4-mapped addresses are unmapped so both spellings
// of one address meet the same entry.
func MakeKey(client, server netip.AddrPort, transport uint8, txid [12]byte) Key {
	return Key{
		client:     client.Addr().Unmap().As16(),
		server:     server.Addr().Unmap().As16(),
		clientPort: client.Port(),
		serverPort: server.Port(),
		transport:  transport,
		txid:       txid,
	}
}

type entry struct {
	key      Key
	expires  mono.Time
	response []byte
}

type shard struct {
	mu    sync.Mutex
	index map[Key]int // position in ring
	ring  []entry
	next  int // where the next entry goes
	held  int // entries from the oldest up to next, live or not yet released
}

// Cache is safe for concurrent use. Shards keep lookups from different cores
// from meeting on one lock.
type Cache struct {
	ttl    time.Duration
	seed   maphash.Seed
	shards []shard
}

// New returns a cache holding at most capacity responses for ttl each.
// capacity is split evenly across shards (at least one entry per shard).
func New(capacity, shards int, ttl time.Duration) *Cache {
	if shards < 1 {
		shards = 1
	}
	per := capacity / shards
	if per < 1 {
		per = 1
	}
	c := &Cache{ttl: ttl, seed: maphash.MakeSeed(), shards: make([]shard, shards)}
	for i := range c.shards {
		// The map grows as entries arrive rather than being sized for the
		// full ring, so an idle relay does not hold the cache's worst case.
		c.shards[i].index = make(map[Key]int)
		c.shards[i].ring = make([]entry, per)
	}
	return c
}

func (c *Cache) shardFor(k *Key) *shard {
	var h maphash.Hash
	h.SetSeed(c.seed)
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], k.clientPort)
	h.Write(k.txid[:])
	h.Write(b[:])
	h.Write(k.client[:])
	return &c.shards[h.Sum64()%uint64(len(c.shards))]
}

// Get returns the cached response for k if one is younger than the TTL. The
// returned slice is owned by the cache and must not be modified; it stays
// valid (entries are replaced, never rewritten in place).
func (c *Cache) Get(k Key, now mono.Time) ([]byte, bool) {
	s := c.shardFor(&k)
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.index[k]
	if !ok {
		return nil, false
	}
	e := &s.ring[i]
	if !now.Before(e.expires) {
		delete(s.index, k)
		e.response = nil
		return nil, false
	}
	return e.response, true
}

// Put stores a copy of response under k, evicting the oldest entry of the
// shard when it is full.
func (c *Cache) Put(k Key, response []byte, now mono.Time) {
	cp := append([]byte(nil), response...)
	s := c.shardFor(&k)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseExpired(now)
	if i, ok := s.index[k]; ok {
		s.ring[i].response = cp
		s.ring[i].expires = now.Add(c.ttl)
		return
	}
	s.forget(s.next)
	s.ring[s.next] = entry{key: k, expires: now.Add(c.ttl), response: cp}
	s.index[k] = s.next
	s.next = (s.next + 1) % len(s.ring)
	s.held = min(s.held+1, len(s.ring))
}

// releaseExpired drops the oldest entries while they are past their TTL (or
// already dropped by Get). Entries were put in time order, so the expired
// ones sit at the old end; an entry refreshed in place stops the walk early,
// which only delays its neighbours' release to a later Put.
func (s *shard) releaseExpired(now mono.Time) {
	for s.held > 0 {
		oldest := (s.next - s.held + len(s.ring)) % len(s.ring)
		if e := &s.ring[oldest]; e.response != nil && now.Before(e.expires) {
			return
		}
		s.forget(oldest)
		s.held--
	}
}

// forget empties ring slot i and its index entry, if the index still
// points there.
func (s *shard) forget(i int) {
	e := &s.ring[i]
	if e.response != nil {
		if j, ok := s.index[e.key]; ok && j == i {
			delete(s.index, e.key)
		}
	}
	*e = entry{}
}

// Len reports how many entries the cache holds (expired ones not yet
// released by a later Put count too); it is meant for tests and metrics.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.index)
		s.mu.Unlock()
	}
	return n
}
