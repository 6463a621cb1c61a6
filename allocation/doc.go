// Package allocation is the TURN allocation table: 5-tuples, relayed
// addresses, lifetimes, permissions, channel bindings and quotas
// (RFC 8656 §2, §5–§9, §12). It is a sans-IO core: it opens no socket,
// starts no goroutine, arms no timer and never reads a clock. Every method
// whose answer depends on time takes the caller's current time as a
// mono.Time, read once per batch by the relay shell.
//
// # Time and expiry
//
// Everything with a lifetime (allocations, permissions, channel bindings,
// reservations) stores an absolute deadline. A thing whose deadline is d is
// alive at now exactly when now < d: a permission installed at t with the
// 300 s lifetime is honoured at t+299.999999999 s and refused at t+300 s.
// Lookups compare against now, so an expired object is invisible at once
// even if nobody has reclaimed it yet.
//
// Reclaiming memory and telling the shell is done by Table.Expire, which the
// shell calls when the single timer it arms to Table.NextDeadline fires
// (one deadline queue per shard, no timer per object: docs/architecture.md,
// Threading). Each shard keeps a min-heap with one entry per allocation
// whose key is never later than the next event of that allocation (its own
// expiry, or the expiry of one of its permissions or channels); when an
// entry comes due the shard either retires the allocation or purges its
// expired permissions and channels and re-keys the entry exactly.
//
// # Concurrency
//
// A Table is safe for concurrent use without a global lock. The 5-tuple map
// is split into shards by a keyed hash, each with its own sync.RWMutex, and
// every Allocation has its own sync.RWMutex for its permissions and
// channels. The data-path methods (Table.Lookup, Allocation.Permitted,
// Allocation.ChannelPeer, Allocation.PeerChannel) take one read lock,
// allocate nothing and never block on another shard. Locks are always taken
// in the order shard → allocation → quota ledger, or reservations → quota
// ledger, never the reverse.
//
// # Memory
//
// An allocation costs about 480 bytes of heap with no permissions or
// channels, and about 1.4 KB with one permission and one channel (measured
// by TestMemoryPerAllocation). Permission and channel maps are created on
// first use and dropped again when they empty; no allocation has a timer or
// goroutine. Shard maps and queues keep their peak capacity, as Go maps do.
//
// # Ownership
//
// An Allocation leaves the table exactly once, either through a successful
// Table.Delete or in the slice returned by Table.Expire; whoever receives it
// that way owns the clean-up of the shell's state hanging off Allocation.Ext
// (closing relayed sockets, emitting events). Reservations follows the
// same rule for ports reserved by EVEN-PORT: a value leaves through Redeem,
// Cancel or Expire, once. A reserved port counts against its owner's quota
// until it leaves; Redeem hands the unit to the redeeming user's new
// allocation.
package allocation
