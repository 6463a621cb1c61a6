package relay

import "sync/atomic"

// DefaultTCPWriteBudget is Config.TCPWriteBudget when it is zero: the bytes
// one TCP/TLS connection may hold in frames waiting to be written. At
// 10 Mbit/s it is about 200 ms of media on top of what the kernel's send
// buffer already holds, and ten connections of a client that never reads
// hold 2.5 MiB rather than the 16 MiB each that 256 frames of 64 KiB were.
const DefaultTCPWriteBudget = 256 << 10

// MinTCPWriteBudget is the smallest write budget New accepts: the share
// peer data may use (the budget less the response reserve) must hold the
// largest frame, a 64 KiB datagram with its header, or such datagrams
// could never reach the client.
const MinTCPWriteBudget = 128 << 10

// Limits of the response reserve: the part of a connection's write budget,
// in bytes and in queued frames, that peer data cannot take. Responses and
// data share one queue in order, so a response waits behind the data ahead
// of it; the reserve makes sure it is queued rather than dropped while the
// data share is full, so a client that reads slowly still gets its answers
// (over a stream it does not retransmit, RFC 8489 §6.2.2). A client that
// reads nothing at all fills the reserve too, and further responses are
// dropped (DropStreamBackpressure).
const (
	responseReserveBytes  = 32 << 10
	responseReserveFrames = 16
)

// writeBudget counts the bytes of frame buffers a stream connection holds,
// from enqueue until the writer has handed them to the kernel. Producers on
// any goroutine charge it with one atomic add; nothing waits on it.
type writeBudget struct {
	held atomic.Int64
	// limit is the whole budget (responses); dataLimit the share of peer
	// data and indications.
	limit, dataLimit int64
}

func newWriteBudget(limit int) writeBudget {
	return writeBudget{limit: int64(limit), dataLimit: int64(limit - responseReserveBytes)}
}

// frameCost is what a queued frame of n bytes holds: its pooled buffer, or
// a buffer of its own when it is larger (up to the allocator's rounding).
func frameCost(n int) int64 { return int64(max(n, framePoolSize)) }

// take charges cost against the budget, the whole of it for a response
// and the data share otherwise; false, with nothing charged, when it does
// not fit. Concurrent producers may refuse each other spuriously near the
// limit, never overshoot it.
func (b *writeBudget) take(cost int64, response bool) bool {
	limit := b.dataLimit
	if response {
		limit = b.limit
	}
	if b.held.Add(cost) > limit {
		b.held.Add(-cost)
		return false
	}
	return true
}

// give returns what take charged, once the frame's buffer is released.
func (b *writeBudget) give(cost int64) { b.held.Add(-cost) }
