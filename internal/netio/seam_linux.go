package netio

import (
	"errors"
	"net/netip"
	"time"
)

// BatchSocket is the batch I/O contract of one UDP socket that the relay relies
// on. *Socket implements it with system calls; netiotest implements it in
// memory. An implementation must honour every rule below, because the
// relay's data path is written against them (the shared contract tests in
// netiotest run against both).
//
// Buffers: a call only reads or fills the Batch, Scratch, SegmentScratch,
// ErrQueueEntry and byte slices it is given, only during the call, and
// keeps no reference to them afterwards. Nothing blocks: a receive with
// nothing queued and a send that finds no room return ErrWouldBlock at once.
// All methods are safe for concurrent use; after Close has begun every call
// returns ErrClosed.
type BatchSocket interface {
	// RecvBatch stores up to b.Len() queued datagrams in messages [0, n)
	// and returns n >= 1 with a nil error, or 0 with an error:
	// ErrWouldBlock (nothing queued), ErrClosed, or PendingError (an ICMP
	// or local error for an earlier send on a RecvErr socket, reported
	// once in place of data; the datagrams stay queued and the error queue
	// holds the details). Each datagram is at Headroom(); one longer than
	// Size() is cut to Size() bytes with Truncated set. On a GRO socket a
	// message may hold several datagrams of one source back to back, each
	// SegmentSize bytes but a shorter last one (SegmentSize 0: one datagram).
	RecvBatch(b *Batch) (int, error)
	// SendBatch sends messages [0, n) (Data to Addr) in order and returns
	// how many were sent, counted from the front. On an error, message
	// sent (the returned count) is the one that failed and the later ones
	// were not tried: ErrWouldBlock (no room: a partial send, the caller
	// counts the rest as drops), ErrAddressFamily, ErrBounds for n outside
	// [0, b.Len()], ErrClosed, or a unix.Errno such as EMSGSIZE (a
	// DontFragment datagram above the path MTU). An error always comes
	// with fewer than n sent.
	SendBatch(b *Batch, n int) (int, error)
	// SendTo sends p as one datagram to to; errors as SendBatch's for one
	// message.
	SendTo(p []byte, to netip.AddrPort, scratch *Scratch) error
	// SendSegments sends segs (Segmentable: 2 to MaxSegments datagrams of
	// one size but a shorter last) to to, all or nothing. ErrBounds for
	// another shape; ErrSegmentsRefused when segmentation is unavailable or
	// a segment exceeds the path MTU under DontFragment (nothing was sent:
	// send them one by one); otherwise SendTo's errors. The receiver sees
	// the datagrams in order (coalesced into one message on a GRO socket).
	SendSegments(segs [][]byte, to netip.AddrPort, sc *SegmentScratch) error
	// ReadErrQueue reads the oldest error-queue entry into e and returns
	// true, or false with a nil error when the queue is empty (clearing
	// any pending error). Only RecvErr sockets queue entries.
	ReadErrQueue(e *ErrQueueEntry) (bool, error)
	// SetDontFragment turns Options.DontFragment on after the bind.
	SetDontFragment() error
	// LocalAddr is the bound address, with the port chosen for port 0.
	LocalAddr() netip.AddrPort
	// Close unregisters the socket from its poller and closes it; it is
	// idempotent.
	Close() error
}

// EventPoller reports which of its registered sockets have datagrams queued
// (Readable) or a non-empty error queue (Error), level-triggered: a socket is
// reported by every Wait until it has been drained. *Poller is the epoll
// implementation; a poller accepts only sockets of its own Network
// (ErrForeignSocket otherwise).
type EventPoller interface {
	// Add registers c under token; a BatchSocket belongs to at most one open
	// poller (ErrAlreadyRegistered). ErrClosed when c or the poller is
	// closed.
	Add(c BatchSocket, token uint64) error
	// Remove unregisters c (ErrNotRegistered when it is not registered
	// here). Closing c also unregisters it.
	Remove(c BatchSocket) error
	// Wait blocks until a registered BatchSocket is ready, Wake is called or
	// timeout passes (negative: no timeout; zero: poll) and stores up to
	// len(events) events. A wake-up or a timeout returns 0. One goroutine
	// waits at a time (ErrConcurrentWait); ErrClosed after Close.
	Wait(events []Event, timeout time.Duration) (int, error)
	// Wake makes the current or next Wait return.
	Wake() error
	// Close ends every registration and wakes a Wait, which returns
	// ErrClosed. Registered sockets stay open.
	Close() error
}

// Network opens sockets and pollers: System is the kernel's; netiotest has an
// in-memory one.
type Network interface {
	// ListenUDP opens a socket bound to addr with opts (listeners and
	// relayed sockets alike: DontFragment and RecvErr are options). Port 0
	// picks a free port. A taken port gives an error that satisfies
	// errors.Is(err, unix.EADDRINUSE) unless opts.ReusePort is set on
	// every socket sharing it.
	ListenUDP(addr netip.AddrPort, opts Options) (BatchSocket, error)
	// NewPoller makes a poller for this Network's sockets.
	NewPoller() (EventPoller, error)
}

// ErrForeignSocket is returned by a poller given a BatchSocket of another Network.
var ErrForeignSocket = errors.New("netio: connection belongs to another network")

// System is the kernel's Network: ListenUDP and NewPoller of this package.
var System Network = systemNetwork{}

type systemNetwork struct{}

func (systemNetwork) ListenUDP(addr netip.AddrPort, opts Options) (BatchSocket, error) {
	s, err := ListenUDP(addr, opts)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (systemNetwork) NewPoller() (EventPoller, error) {
	p, err := NewPoller()
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Interface checks.
var (
	_ BatchSocket = (*Socket)(nil)
	_ EventPoller = (*Poller)(nil)
)
