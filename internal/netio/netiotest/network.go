// Package netiotest is an in-memory netio.Network for tests: endpoints on
// fake addresses exchange datagrams through a Network without the kernel,
// under the same batch I/O contract as netio.Socket (netio.BatchSocket), which
// TestSocketContract checks for both. Tests inject what the kernel would do to a
// real socket: ICMP errors, a full send buffer, a small path MTU.
//
// Delivery is immediate: a send puts the datagram on the receiver's queue
// before it returns, so a test needs no waiting for its own sends. Sends to
// an unbound address are lost, and a sender with RecvErr gets an ICMP port
// unreachable for them, as on loopback.
package netiotest

import (
	"fmt"
	"net/netip"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/turnstile-relay/turnstile/internal/netio"
)

// Defaults of a new Network.
const (
	// DefaultMTU is the path MTU of every route until SetMTU.
	DefaultMTU = 1500
	// DefaultQueueLen is how many datagrams a receive queue holds; more
	// are dropped, as a full socket receive buffer drops them.
	DefaultQueueLen = 1024
)

// Ephemeral ports handed out for port 0 (Linux's default range).
const (
	ephemeralMin = 32768
	ephemeralMax = 60999
)

// Network is a set of fake UDP endpoints. Its methods are safe for
// concurrent use. It implements netio.Network.
type Network struct {
	mu       sync.Mutex
	bound    map[netip.AddrPort][]*Socket // several only with ReusePort
	mtu      int
	queueLen int
	nextPort int
	dropped  uint64
}

// NewNetwork returns an empty Network with DefaultMTU and DefaultQueueLen.
func NewNetwork() *Network {
	return &Network{
		bound:    map[netip.AddrPort][]*Socket{},
		mtu:      DefaultMTU,
		queueLen: DefaultQueueLen,
		nextPort: ephemeralMin,
	}
}

// SetMTU sets the path MTU of every route: a DontFragment datagram whose IP
// packet is larger fails with EMSGSIZE, and a segmented send with a larger
// segment is refused (netio.ErrSegmentsRefused).
func (n *Network) SetMTU(mtu int) {
	n.mu.Lock()
	n.mtu = mtu
	n.mu.Unlock()
}

// SetQueueLen sets how many datagrams each receive queue holds.
func (n *Network) SetQueueLen(datagrams int) {
	n.mu.Lock()
	n.queueLen = datagrams
	n.mu.Unlock()
}

// Dropped returns how many datagrams were lost to full receive queues.
func (n *Network) Dropped() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dropped
}

// ListenUDP binds a fake socket (netio.Network). addr's IP may be any
// address, including the unspecified one, which receives for every address
// of its family. Port 0 picks a free ephemeral port. A taken port is
// unix.EADDRINUSE unless every socket on it set ReusePort; datagrams to a
// shared port go to one of them chosen by the source address, so one
// source always reaches the same socket.
func (n *Network) ListenUDP(addr netip.AddrPort, opts netio.Options) (netio.BatchSocket, error) {
	ip := addr.Addr().Unmap()
	if !ip.IsValid() || ip.Zone() != "" {
		return nil, fmt.Errorf("netiotest: ListenUDP address %v is not a plain IP address", addr)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	port := addr.Port()
	if port == 0 {
		var ok bool
		if port, ok = n.freePortLocked(ip); !ok {
			return nil, fmt.Errorf("netiotest: bind %v: %w", addr, unix.EADDRINUSE)
		}
	}
	local := netip.AddrPortFrom(ip, port)
	if n.portTakenLocked(local, opts.ReusePort) {
		return nil, fmt.Errorf("netiotest: bind %v: %w", local, unix.EADDRINUSE)
	}
	c := &Socket{net: n, local: local, opts: opts, sendRoom: -1}
	n.bound[local] = append(n.bound[local], c)
	return c, nil
}

// portTakenLocked reports whether binding local conflicts with a socket
// already bound: the same port on the same address, or on the unspecified
// address of the family, or (for an unspecified local) on any address.
func (n *Network) portTakenLocked(local netip.AddrPort, reusePort bool) bool {
	for ap, conns := range n.bound {
		if ap.Port() != local.Port() || ap.Addr().Is4() != local.Addr().Is4() {
			continue
		}
		if ap.Addr() != local.Addr() && !ap.Addr().IsUnspecified() && !local.Addr().IsUnspecified() {
			continue
		}
		if !reusePort || ap.Addr() != local.Addr() {
			return true
		}
		for _, c := range conns {
			if !c.opts.ReusePort {
				return true
			}
		}
	}
	return false
}

func (n *Network) freePortLocked(ip netip.Addr) (uint16, bool) {
	for range ephemeralMax - ephemeralMin + 1 {
		port := uint16(n.nextPort)
		n.nextPort++
		if n.nextPort > ephemeralMax {
			n.nextPort = ephemeralMin
		}
		if !n.portTakenLocked(netip.AddrPortFrom(ip, port), false) {
			return port, true
		}
	}
	return 0, false
}

// NewPoller returns a poller for this Network's Sockets (netio.Network).
func (n *Network) NewPoller() (netio.EventPoller, error) {
	return newPoller(n), nil
}

// receiverLocked returns the socket that a datagram from from to to
// reaches, or nil.
func (n *Network) receiverLocked(from, to netip.AddrPort) *Socket {
	conns := n.bound[to]
	if len(conns) == 0 {
		unspecified := netip.IPv4Unspecified()
		if to.Addr().Is6() {
			unspecified = netip.IPv6Unspecified()
		}
		conns = n.bound[netip.AddrPortFrom(unspecified, to.Port())]
	}
	if len(conns) == 0 {
		return nil
	}
	a := from.Addr().As16()
	h := uint(from.Port())
	for _, b := range a {
		h = h*31 + uint(b)
	}
	return conns[h%uint(len(conns))]
}

func (n *Network) unbindLocked(c *Socket) {
	conns := n.bound[c.local]
	for i, x := range conns {
		if x == c {
			conns = append(conns[:i:i], conns[i+1:]...)
			break
		}
	}
	if len(conns) == 0 {
		delete(n.bound, c.local)
	} else {
		n.bound[c.local] = conns
	}
}

// Bound reports whether a socket is bound at exactly addr: a test sees a
// port freed when the code under test closes its socket.
func (n *Network) Bound(addr netip.AddrPort) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.bound[addr]) > 0
}

// ICMPError is an entry of a fake socket's error queue, as
// netio.ErrQueueEntry reports it.
type ICMPError struct {
	Origin, Type, Code uint8
	Info               uint32
	Errno              unix.Errno
	Offender           netip.Addr
	// Destination is the address the failed datagram was sent to.
	Destination netip.AddrPort
}

// PortUnreachable is the ICMP error a host at dst's address returns for a
// datagram to a closed port: ICMPv4 3/3 or ICMPv6 1/4, ECONNREFUSED.
func PortUnreachable(dst netip.AddrPort) ICMPError {
	if dst.Addr().Unmap().Is4() {
		return ICMPError{Origin: unix.SO_EE_ORIGIN_ICMP, Type: 3, Code: 3, Errno: unix.ECONNREFUSED, Offender: dst.Addr().Unmap(), Destination: dst}
	}
	return ICMPError{Origin: unix.SO_EE_ORIGIN_ICMP6, Type: 1, Code: 4, Errno: unix.ECONNREFUSED, Offender: dst.Addr(), Destination: dst}
}

// InjectICMP delivers an ICMP error to the socket bound at local, as the
// kernel does with one received for a datagram that socket sent: with
// RecvErr it is queued for ReadErrQueue, the socket is marked with a pending
// error (the next RecvBatch returns netio.PendingError once) and its poller
// reports Error; without RecvErr it is ignored. It reports false when
// nothing is bound at local.
func (n *Network) InjectICMP(local netip.AddrPort, e ICMPError) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	conns := n.bound[local]
	if len(conns) == 0 {
		return false
	}
	conns[0].queueErrorLocked(e, true)
	return true
}

// LimitSend lets the socket bound at local send only datagrams more
// datagrams; then its sends fail with netio.ErrWouldBlock, as with a full
// send buffer. A negative count lifts the limit. It reports false when
// nothing is bound at local.
func (n *Network) LimitSend(local netip.AddrPort, datagrams int) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	conns := n.bound[local]
	for _, c := range conns {
		c.sendRoom = datagrams
	}
	return len(conns) > 0
}
