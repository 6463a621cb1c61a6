package relay

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/netio"
	"github.com/turnstile-relay/turnstile/turncore"
)

// clientPath is how the relay reaches the client of a 5-tuple: a UDP
// listener socket and the client's address, or a stream connection.
type clientPath struct {
	ft     allocation.FiveTuple
	udp    netio.BatchSocket // the listener socket the client's datagrams arrive on; nil for streams
	stream *streamConn
}

// send delivers one complete message of peer data or an indication (STUN
// or ChannelData) to the client. For UDP it is sent from the listener
// socket, at the end of the poll round on a worker (sd.out set) and at once
// elsewhere; for streams it is copied into the connection's write queue
// (padded as RFC 8656 §12.5 asks for ChannelData) if the data share of the
// connection's write budget has room, and dropped and counted otherwise.
// b is only read during the call.
func (p *clientPath) send(b []byte, sd *sender, c *counters) bool {
	return p.deliver(b, sd, c, false)
}

// respond delivers the response to a client's request as send does; on a
// stream it may also use the reserve of the write budget that peer data
// cannot take (streambudget.go).
func (p *clientPath) respond(b []byte, sd *sender, c *counters) bool {
	return p.deliver(b, sd, c, true)
}

func (p *clientPath) deliver(b []byte, sd *sender, c *counters, response bool) bool {
	if p.udp != nil {
		if sd.out != nil {
			if sd.out.clients.add(p.udp, p.ft.Client, b) {
				return true
			}
			sd.out.clients.flushSocket(p.udp)
		}
		if err := p.udp.SendTo(b, p.ft.Client, &sd.scratch); err != nil {
			c.drop(DropSendFailed)
			return false
		}
		return true
	}
	if !p.stream.enqueue(b, response) {
		if response {
			c.drop(DropStreamBackpressure)
		} else {
			c.drop(DropStreamWriteBudget)
		}
		return false
	}
	return true
}

// sender holds the per-goroutine scratch state for sending without
// allocating.
type sender struct {
	scratch netio.Scratch
	// out, when set, queues datagrams to peers until the receive batch
	// they came in has been handled (the worker's UDP path).
	out *outbox
}

// toPeer relays payload from rs to peer, counting it as relayed from a
// client on transport t, or as a drop: at once, or through the outbox.
func (sd *sender) toPeer(rs *relaySocket, payload []byte, peer netip.AddrPort, c *counters, t transportIndex) {
	if sd.out != nil {
		sd.out.add(rs.sock, peer, payload, true)
		return
	}
	if !rs.sendTo(payload, peer, sd) {
		c.drop(DropSendFailed)
		return
	}
	c.relayed(ToPeer, t, len(payload))
}

// session is the shell's state of one allocation, hung on
// allocation.Allocation.Ext: where its client is and its relayed sockets.
type session struct {
	// State is the core's part: live relayed families, DF, the
	// extension's state as the core asks it (turncore.State).
	turncore.State
	alloc  *allocation.Allocation
	client clientPath
	relay4 *relaySocket
	relay6 *relaySocket
	// tcp is a TCP allocation's relayed address (RFC 6062); nil for UDP.
	tcp *tcpListener
	// icmpBudget and icmpRefill implement the per-allocation ICMP rate
	// limit (a token bucket refilled lazily from the packet clock).
	icmpBudget atomic.Int64
	icmpRefill atomic.Int64
	closeOnce  sync.Once
	// ext is the allocation's extension state; nil on a relay without
	// Config.Extension, which the data path checks first.
	ext AllocationExtension
	// srv is the relay, for the Client deliveries of the extension.
	srv *Server
	// watched are the allocation's channels as Config.Observer knows
	// them, by number; guarded by the server's bindingWatch.mu.
	watched map[uint16]*watchedBinding
}

// closeExtension ends the allocation's extension state, if any.
func (s *session) closeExtension(now mono.Time) {
	if s.ext != nil {
		s.ext.Closed(now)
	}
}

// relayFor returns the live relayed socket that sends to peer's family, or
// nil when the allocation has none (never had one, or a Refresh deleted it).
func (s *session) relayFor(peer netip.Addr) *relaySocket {
	rs := s.relay6
	if peer.Unmap().Is4() {
		rs = s.relay4
	}
	if !rs.live() {
		return nil
	}
	return rs
}

// relaySocket is one relayed transport address of an allocation (RFC 8656
// §2): a UDP socket on a relay IP, polled by one worker. A
// netio.BatchSocket is never used after Close (calls then return
// ErrClosed), so the data path needs no lock around it.
type relaySocket struct {
	sock      netio.BatchSocket
	public    netip.AddrPort // the advertised address: the external IP when configured
	sess      *session
	owner     *worker
	token     uint64
	closeOnce sync.Once
	// closed is set once close began: the relayed address is gone (its
	// allocation ended, or a Refresh deleted this family, RFC 8656 §8.1).
	closed atomic.Bool
}

// live reports whether r is still one of its allocation's relayed
// addresses. Cheap enough for the data path (one atomic load).
func (r *relaySocket) live() bool { return r != nil && !r.closed.Load() }

// sendTo sends payload to peer from this relayed address. It reports false
// when the socket is closed or the kernel refused the datagram.
func (r *relaySocket) sendTo(payload []byte, peer netip.AddrPort, sd *sender) bool {
	return r.sock.SendTo(payload, peer, &sd.scratch) == nil
}

// close stops polling the socket and closes it. Safe to call more than once
// and from any goroutine.
func (r *relaySocket) close() {
	if r == nil {
		return
	}
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		r.sock.Close() // also removes it from its poller
		if r.owner != nil {
			r.owner.forget(r.token)
		}
	})
}
