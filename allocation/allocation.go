package allocation

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// Spec describes an allocation to create. The table copies it; the caller
// may reuse it after Create returns.
type Spec struct {
	// FiveTuple the allocation is reached on (RFC 8656 §2). It is stored
	// canonicalized (see FiveTuple.Canonical).
	FiveTuple FiveTuple
	// Username is the USERNAME the Allocate authenticated with; every later
	// request must use the same one (RFC 8656 §5, 441 otherwise).
	Username string
	// User is the quota key, e.g. the user part of a TURN REST username
	// "<expiry>:<user>" (RFC 8656 §5: quotas keyed by username). The empty
	// string is a user like any other (e.g. unauthenticated RFC 8155 use).
	User string
	// Realm the allocation was authenticated in.
	Realm string
	// Key is the long-term credential key (RFC 8489 §9.2.2) used for the
	// integrity of later responses; never the password.
	Key [16]byte
	// Relayed4 and Relayed6 are the relayed transport addresses, at least
	// one valid: an IPv4 address in Relayed4, an IPv6 one in Relayed6
	// (RFC 8656 §7.2; both for a dual allocation). Ports must be non-zero.
	Relayed4, Relayed6 netip.AddrPort
	// TxID is the transaction ID of the Allocate request that created the
	// allocation, for recognising its retransmissions (RFC 8656 §7.2).
	TxID [12]byte
	// Lifetime until expiry, usually Config.Lifetime's answer; 0 < Lifetime
	// ≤ Config.MaxLifetime.
	Lifetime time.Duration
	// Ext is opaque state owned by the shell (its relayed sockets). It is
	// stored before the allocation becomes visible to Lookup, so readers
	// never see it unset.
	Ext any
	// Redeemed says that User's quota unit for this allocation was moved
	// to it by Reservations.Redeem: Create spends that unit instead of
	// taking one, and releases it when it fails.
	Redeemed bool
}

// Allocation is one TURN allocation (RFC 8656 §6). Create returns it; it is
// shared by every goroutine that looks it up.
//
// The exported fields are copied from the Spec at creation and never change
// afterwards; they may be read without locking but must not be written.
// Everything else (expiry, permissions, channels) is behind methods that are
// safe for concurrent use.
type Allocation struct {
	FiveTuple          FiveTuple // canonical 5-tuple (RFC 8656 §2)
	Username           string    // USERNAME of the Allocate (RFC 8656 §5)
	User               string    // quota key
	Realm              string    // realm of the credentials
	Key                [16]byte  // long-term key (RFC 8489 §9.2.2)
	Relayed4, Relayed6 netip.AddrPort
	TxID               [12]byte  // transaction ID of the Allocate
	Created            mono.Time // when Create ran
	Ext                any       // shell state, see Spec.Ext

	shard *shard   // owning shard, immutable
	key   tupleKey // map key, immutable (not derived from FiveTuple, which a caller could overwrite)

	// expires is the allocation's deadline as a mono.Time. Written only with
	// shard.mu held, read anywhere.
	expires atomic.Int64
	closed  atomic.Bool

	// heapIndex (−1 once the allocation has left the table) and wake (a
	// deadline no later than the allocation's next event) are guarded by
	// shard.mu.
	heapIndex int32
	wake      mono.Time

	// mu guards the fields below it.
	mu sync.RWMutex
	// perms maps a peer IP to its permission deadline (RFC 8656 §9); nil
	// until the first permission.
	perms map[ipKey]mono.Time
	// chans maps a channel number to its binding, peers maps a peer
	// transport address back to the number (RFC 8656 §12); nil until the
	// first binding. An entry lives on ChannelReuseDelay past its expiry.
	chans map[uint16]binding
	peers map[addrKey]uint16
	// nPerms counts entries of perms, nChans bindings still counted as
	// live (binding.live), both by family index.
	nPerms [2]int32
	nChans [2]int32
}

// binding is one channel binding. It is pointer-free so the channel map is
// never scanned by the garbage collector.
type binding struct {
	peer    addrKey
	live    bool // counted in nChans and the gauges; cleared by the sweep at expires
	expires mono.Time
}

// Expires returns the allocation's current deadline; the allocation is
// alive at now when now < Expires().
func (a *Allocation) Expires() mono.Time { return mono.Time(a.expires.Load()) }

// Remaining returns the time to expiry at now, never negative: the value
// for the LIFETIME attribute of a Refresh response (RFC 8656 §8.2) after
// rounding to seconds.
func (a *Allocation) Remaining(now mono.Time) time.Duration {
	if d := a.Expires().Sub(now); d > 0 {
		return d
	}
	return 0
}

// Closed reports whether the allocation has left the table (deleted, or
// retired after expiry). A closed allocation permits nothing and has no
// channels. The shell can check it before using Ext after a lookup made
// earlier.
func (a *Allocation) Closed() bool { return a.closed.Load() }

// HasFamily reports whether the allocation has a relayed address of family f.
func (a *Allocation) HasFamily(f Family) bool {
	switch f {
	case FamilyIPv4:
		return a.Relayed4.IsValid()
	case FamilyIPv6:
		return a.Relayed6.IsValid()
	}
	return false
}

// aliveLocked reports whether a may still be changed at now. Callers hold
// a.mu (read or write); closed is set with a.mu held.
func (a *Allocation) aliveLocked(now mono.Time) bool {
	return !a.closed.Load() && now < a.Expires()
}

// closeLocked marks a closed and drops its permissions and channels,
// subtracting them from the table's gauges. Called with shard.mu and a.mu
// held, once.
func (a *Allocation) closeLocked(g *gauges) {
	a.closed.Store(true)
	for i := range a.nPerms {
		g.perms[i].Add(-int64(a.nPerms[i]))
		g.chans[i].Add(-int64(a.nChans[i]))
	}
	a.nPerms = [2]int32{}
	a.nChans = [2]int32{}
	a.perms, a.chans, a.peers = nil, nil, nil
}
