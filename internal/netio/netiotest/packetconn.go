package netiotest

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/turnstile-relay/turnstile/internal/netio"
)

// PacketConn is a blocking, net.UDPConn-like view of one fake socket, for
// the clients and peers of a test: reads wait for a datagram or the read
// deadline (os.ErrDeadlineExceeded, a net.Error whose Timeout is true).
// One goroutine reads at a time; writes may come from any goroutine.
type PacketConn struct {
	sock   netio.BatchSocket
	poller netio.EventPoller

	mu       sync.Mutex // serialises reads
	batch    *netio.Batch
	events   []netio.Event
	deadline time.Time
}

// ListenPacket binds a fake socket at addr (port 0 picks one) and returns
// its blocking view.
func (n *Network) ListenPacket(addr netip.AddrPort) (*PacketConn, error) {
	sock, err := n.ListenUDP(addr, netio.Options{})
	if err != nil {
		return nil, err
	}
	p := newPoller(n)
	if err := p.Add(sock, 0); err != nil {
		sock.Close()
		return nil, err
	}
	b, err := netio.NewBatch(1, netio.MaxDatagram, 0)
	if err != nil {
		sock.Close()
		return nil, err
	}
	return &PacketConn{sock: sock, poller: p, batch: b, events: make([]netio.Event, 1)}, nil
}

// LocalAddr returns the bound address as a *net.UDPAddr.
func (c *PacketConn) LocalAddr() net.Addr { return net.UDPAddrFromAddrPort(c.sock.LocalAddr()) }

// AddrPort returns the bound address.
func (c *PacketConn) AddrPort() netip.AddrPort { return c.sock.LocalAddr() }

// Socket returns the fake socket underneath, for the batch calls
// (SendSegments, SendBatch) a test wants to make from the same address.
func (c *PacketConn) Socket() netio.BatchSocket { return c.sock }

// SetReadDeadline bounds the next reads; the zero time waits forever.
func (c *PacketConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return nil
}

// ReadFromUDPAddrPort waits for one datagram and copies it into b (cut to
// len(b)).
func (c *PacketConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		n, err := c.sock.RecvBatch(c.batch)
		if n == 1 {
			return copy(b, c.batch.Data(0)), c.batch.Addr(0), nil
		}
		if !errors.Is(err, netio.ErrWouldBlock) {
			return 0, netip.AddrPort{}, err
		}
		wait := time.Duration(-1)
		if !c.deadline.IsZero() {
			if wait = time.Until(c.deadline); wait <= 0 {
				return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
			}
		}
		if _, err := c.poller.Wait(c.events, wait); err != nil {
			return 0, netip.AddrPort{}, err
		}
	}
}

// WriteToUDPAddrPort sends b as one datagram to addr.
func (c *PacketConn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	var scratch netio.Scratch
	if err := c.sock.SendTo(b, addr, &scratch); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Close closes the socket; a read in progress returns netio.ErrClosed.
func (c *PacketConn) Close() error {
	c.poller.Close()
	return c.sock.Close()
}
