package netiotest

import (
	"net/netip"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/turnstile-relay/turnstile/internal/netio"
)

// Header sizes that count against the path MTU.
const (
	udpHeader  = 8
	ipv4Header = 20
	ipv6Header = 40
	// maxPayload4 and maxPayload6 are the largest UDP payloads: above them
	// even a fragmenting sender gets EMSGSIZE.
	maxPayload4 = 65535 - ipv4Header - udpHeader
	maxPayload6 = 65535 - udpHeader
)

// Socket is a fake UDP socket of a Network; it implements netio.BatchSocket. Its
// state is guarded by the Network's lock.
type Socket struct {
	net   *Network
	local netip.AddrPort
	opts  netio.Options

	queue    []datagram
	errq     []ICMPError
	pending  unix.Errno
	closed   bool
	poller   *Poller
	sendRoom int // datagrams it may still send; -1: no limit
}

// datagram is one queued message: a datagram, or several coalesced as GRO
// does (segment > 0).
type datagram struct {
	from    netip.AddrPort
	data    []byte
	segment int
}

// LocalAddr returns the bound address (netio.BatchSocket).
func (c *Socket) LocalAddr() netip.AddrPort { return c.local }

// Close unbinds the socket and unregisters it from its poller (netio.BatchSocket).
func (c *Socket) Close() error {
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	c.net.unbindLocked(c)
	if c.poller != nil {
		c.poller.removeLocked(c)
	}
	c.queue, c.errq = nil, nil
	return nil
}

// SetDontFragment turns DontFragment on (netio.BatchSocket).
func (c *Socket) SetDontFragment() error {
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	if c.closed {
		return netio.ErrClosed
	}
	c.opts.DontFragment = true
	return nil
}

// RecvBatch takes up to b.Len() queued messages (netio.BatchSocket).
func (c *Socket) RecvBatch(b *netio.Batch) (int, error) {
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	if c.closed {
		return 0, netio.ErrClosed
	}
	if c.pending != 0 {
		errno := c.pending
		c.pending = 0
		return 0, netio.PendingError{Errno: errno}
	}
	if len(c.queue) == 0 {
		return 0, netio.ErrWouldBlock
	}
	n := min(len(c.queue), b.Len())
	for i, d := range c.queue[:n] {
		b.SetReceived(i, d.from, d.data, d.segment)
	}
	c.queue = slices.Delete(c.queue, 0, n)
	return n, nil
}

// ReadErrQueue takes the oldest error-queue entry (netio.BatchSocket).
func (c *Socket) ReadErrQueue(e *netio.ErrQueueEntry) (bool, error) {
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	if c.closed {
		return false, netio.ErrClosed
	}
	if len(c.errq) == 0 {
		c.pending = 0
		*e = netio.ErrQueueEntry{}
		return false, nil
	}
	q := c.errq[0]
	c.errq = slices.Delete(c.errq, 0, 1)
	*e = netio.ErrQueueEntry{
		Origin: q.Origin, Type: q.Type, Code: q.Code, Info: q.Info,
		Errno: q.Errno, Offender: q.Offender, Destination: q.Destination,
	}
	return true, nil
}

// SendTo sends one datagram (netio.BatchSocket).
func (c *Socket) SendTo(p []byte, to netip.AddrPort, _ *netio.Scratch) error {
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	return c.sendLocked([][]byte{p}, to, false)
}

// SendBatch sends messages [0, n) in order (netio.BatchSocket).
func (c *Socket) SendBatch(b *netio.Batch, n int) (int, error) {
	if n < 0 || n > b.Len() {
		return 0, netio.ErrBounds
	}
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	for i := range n {
		if err := c.sendLocked([][]byte{b.Data(i)}, b.Addr(i), false); err != nil {
			return i, err
		}
	}
	return n, nil
}

// SendSegments sends a run of datagrams in one call (netio.BatchSocket).
func (c *Socket) SendSegments(segs [][]byte, to netip.AddrPort, _ *netio.SegmentScratch) error {
	if !netio.Segmentable(segs) {
		return netio.ErrBounds
	}
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	return c.sendLocked(segs, to, true)
}

// sendLocked sends segs to to as one datagram each (one, unless
// segmented), checking what the kernel checks, in its order.
func (c *Socket) sendLocked(segs [][]byte, to netip.AddrPort, segmented bool) error {
	if c.closed {
		return netio.ErrClosed
	}
	dst, ok := c.destination(to)
	if !ok {
		return netio.ErrAddressFamily
	}
	header, maxPayload := ipv4Header, maxPayload4
	if c.local.Addr().Is6() {
		header, maxPayload = ipv6Header, maxPayload6
	}
	size := len(segs[0])
	if segmented && header+udpHeader+size > c.net.mtu {
		// The kernel cuts segments before the IP layer: it never
		// fragments one, whatever DontFragment says.
		return netio.ErrSegmentsRefused
	}
	if !segmented && size > maxPayload {
		return unix.EMSGSIZE
	}
	if !segmented && c.opts.DontFragment && header+udpHeader+size > c.net.mtu {
		if c.opts.RecvErr {
			// netio retries a failed send once, and each try queues a
			// local error carrying the MTU; IPv4 reports port 0.
			local := ICMPError{Origin: unix.SO_EE_ORIGIN_LOCAL, Errno: unix.EMSGSIZE, Info: uint32(c.net.mtu), Destination: dst}
			if dst.Addr().Is4() {
				local.Destination = netip.AddrPortFrom(dst.Addr(), 0)
			}
			c.queueErrorLocked(local, false)
			c.queueErrorLocked(local, false)
		}
		return unix.EMSGSIZE
	}
	if c.sendRoom == 0 {
		return netio.ErrWouldBlock
	}
	if c.sendRoom > 0 {
		c.sendRoom--
	}
	// A pending error is reported by the first try of a send and cleared;
	// netio's retry then sends, so a send never surfaces it.
	c.pending = 0
	from := c.source(dst)
	rx := c.net.receiverLocked(from, dst)
	if rx == nil {
		if c.opts.RecvErr {
			c.queueErrorLocked(PortUnreachable(dst), true)
		}
		return nil
	}
	if segmented && rx.opts.GRO {
		rx.enqueueLocked(datagram{from: from, data: joined(segs), segment: size})
		return nil
	}
	for _, s := range segs {
		rx.enqueueLocked(datagram{from: from, data: slices.Clone(s)})
	}
	return nil
}

// destination canonicalizes to for this socket's family.
func (c *Socket) destination(to netip.AddrPort) (netip.AddrPort, bool) {
	ip := to.Addr()
	if c.local.Addr().Is4() {
		ip = ip.Unmap()
		return netip.AddrPortFrom(ip, to.Port()), ip.Is4()
	}
	return to, ip.Is6() && !ip.Is4In6() && to.Addr().Zone() == ""
}

// source is the address a datagram to dst comes from: the bound address, or
// for an unspecified bind the destination's loopback address of the family
// (the fake has one interface per address, and this suits tests on loopback).
func (c *Socket) source(dst netip.AddrPort) netip.AddrPort {
	if !c.local.Addr().IsUnspecified() {
		return c.local
	}
	if dst.Addr().Is4() {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), c.local.Port())
	}
	return netip.AddrPortFrom(netip.IPv6Loopback(), c.local.Port())
}

func joined(segs [][]byte) []byte {
	var out []byte
	for _, s := range segs {
		out = append(out, s...)
	}
	return out
}

// enqueueLocked queues d for a receive, or drops it when the queue is full.
func (c *Socket) enqueueLocked(d datagram) {
	if len(c.queue) >= c.net.queueLen {
		c.net.dropped++
		return
	}
	c.queue = append(c.queue, d)
	if c.poller != nil {
		c.poller.notify()
	}
}

// queueErrorLocked queues e for ReadErrQueue on a RecvErr socket; an ICMP
// error also becomes the pending error (the kernel marks the socket for
// those, not for local errors).
func (c *Socket) queueErrorLocked(e ICMPError, icmp bool) {
	if !c.opts.RecvErr || c.closed {
		return
	}
	c.errq = append(c.errq, e)
	if icmp {
		c.pending = e.Errno
	}
	if c.poller != nil {
		c.poller.notify()
	}
}

// readyLocked reports the socket's readiness as a poller sees it.
func (c *Socket) readyLocked() (readable, hasError bool) {
	return len(c.queue) > 0, len(c.errq) > 0 || c.pending != 0
}
