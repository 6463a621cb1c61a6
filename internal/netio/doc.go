// Package netio is the relay's UDP socket layer for Linux: raw non-blocking
// sockets with batched, allocation-free receive and send (recvmmsg and
// sendmmsg), a shared epoll Poller so that thousands of relayed sockets are
// served by a few goroutines, and the socket error queue (IP_RECVERR,
// IPV6_RECVERR, MSG_ERRQUEUE) through which the kernel hands ICMP errors to
// the relay for RFC 8656 §11.5.
//
// # The seam
//
// BatchSocket, EventPoller and Network state the contract the relay relies on, so
// that it can run on the in-memory network of package netiotest as well as
// on the kernel's (System). Socket and Poller implement them directly; the
// relay's hot path calls the same methods through the interfaces.
//
// # Ownership
//
// A Batch, a Scratch and an ErrQueueEntry each belong to one goroutine at a
// time. They hold the buffers and kernel structures that the calls fill, so
// that the hot path allocates nothing. Buffers inside a Batch are reused by
// the next call that takes the Batch: a caller that needs a datagram beyond
// that point copies it or hands the whole Batch over: buffers are handed
// over, never shared.
//
// # Concurrency
//
// A Socket may be used from several goroutines at once: RecvBatch, SendBatch,
// SendTo and ReadErrQueue are safe to call concurrently with each other and
// with Close, because every call holds a reference on the file descriptor and
// the descriptor is closed only when the last call in flight returns. After
// Close has begun, every call returns ErrClosed without touching the
// descriptor, so a descriptor number that the kernel has reused for a newer
// socket is never read or written through an old Socket.
//
// A Poller has one waiting goroutine (Wait is not re-entrant) and any number
// of goroutines calling Add, Remove, Wake and Close. Run one loop goroutine
// per Poller and shard sockets across Pollers.
//
// # Non-blocking contract
//
// Nothing on a Socket blocks; only Poller.Wait does. A receive with nothing
// queued and a send with a full socket buffer return ErrWouldBlock at once;
// the caller counts a drop for a send and waits for readiness for a receive.
//
// A Conn is the exception by design: the same batch calls on a socket that
// Go's net package owns, waiting in Go's poller (with the socket's
// deadlines) instead of returning ErrWouldBlock, for a program whose
// goroutines each wait on their own socket (the load generator).
//
// # ICMP errors (Linux IP_RECVERR)
//
// With Options.RecvErr the kernel queues one entry per ICMP error (and per
// local error such as EMSGSIZE under Options.DontFragment) on the socket's
// error queue, marks the socket with a pending error and raises EPOLLERR.
// The pending error surfaces once, in place of data, from the next receive
// (RecvBatch returns a PendingError with no messages) or even from the next
// send; see RecvBatch and SendTo for how this package keeps either from
// losing data. ReadErrQueue reads the queue entry by entry and, once the
// queue is empty, clears any pending error left behind, so a level-triggered
// EPOLLERR stops as soon as the queue has been drained.
package netio
