package loadtest

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// echoBatch is how many datagrams an echo peer moves per system call.
const echoBatch = 64

// echoBuffer is the socket buffer size requested for echo sockets (the
// kernel caps it at net.core.rmem_max / wmem_max): they take the traffic of
// many allocations at once.
const echoBuffer = 4 << 20

// echoPool is the set of echo peers: UDP sockets on one loopback address,
// each served by one goroutine that sends every datagram back to its source
// unchanged. Allocations share the sockets; the relay address tells them
// apart. Methods are safe for concurrent use.
type echoPool struct {
	conns  []*net.UDPConn
	addrs  []netip.AddrPort
	echoed []echoCounter
	wg     sync.WaitGroup
}

// echoCounter counts datagrams echoed by one socket's goroutine.
type echoCounter struct {
	n atomic.Uint64
	_ [56]byte // one cache line per counter
}

// startEchoPool binds n sockets on ip and starts serving them. maxDatagram is
// the largest datagram to echo whole; gso lets them answer a run of
// datagrams to one source as one segmented send (Config.GSO).
func startEchoPool(ip netip.Addr, n, maxDatagram int, gso bool) (*echoPool, error) {
	p := &echoPool{echoed: make([]echoCounter, n)}
	for i := 0; i < n; i++ {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
		if err != nil {
			p.close()
			return nil, fmt.Errorf("echo peer on %v: %w", ip, err)
		}
		// Best effort: a smaller buffer only means earlier drops.
		_ = c.SetReadBuffer(echoBuffer)
		_ = c.SetWriteBuffer(echoBuffer)
		p.conns = append(p.conns, c)
		p.addrs = append(p.addrs, c.LocalAddr().(*net.UDPAddr).AddrPort())
	}
	for i, c := range p.conns {
		server, err := newEchoServer(c, maxDatagram, &p.echoed[i].n, gso)
		if err != nil {
			p.close()
			return nil, err
		}
		p.wg.Go(server.serve)
	}
	return p, nil
}

// addr returns the echo peer address of allocation i.
func (p *echoPool) addr(i int) netip.AddrPort { return p.addrs[i%len(p.addrs)] }

// total returns how many datagrams all echo peers have sent back: the
// packets the server relayed from its clients to the peers.
func (p *echoPool) total() uint64 {
	var n uint64
	for i := range p.echoed {
		n += p.echoed[i].n.Load()
	}
	return n
}

// close stops the echo peers and waits for their goroutines.
func (p *echoPool) close() {
	for _, c := range p.conns {
		c.Close()
	}
	p.wg.Wait()
}

// echoFatal reports errors after which an echo goroutine stops: its socket
// was closed. Other errors (e.g. a transient ECONNREFUSED from an earlier
// send to a relay that closed) are skipped.
func echoFatal(err error) bool { return errors.Is(err, net.ErrClosed) }
