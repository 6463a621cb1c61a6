package relay

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
	"github.com/turnstile-relay/turnstile/turncore"
)

// tcpPipeBuffer is the one buffer per direction of a relayed TCP
// connection. Bytes are copied through it and nowhere else: while the
// receiver does not read, the copy blocks in its write and stops reading
// the sender, whose kernel window then closes (backpressure, not
// buffering).
const tcpPipeBuffer = 16 * 1024

// peerConn is a peer data connection (RFC 6062): dialled for a Connect or
// accepted on a relayed TCP address.
type peerConn struct {
	id     turncore.ConnID
	conn   *net.TCPConn
	cancel context.CancelFunc // ends a dial in progress
	once   sync.Once
}

// close closes the connection or abandons its dial.
func (pc *peerConn) close() {
	pc.once.Do(func() {
		if pc.cancel != nil {
			pc.cancel()
		}
		if pc.conn != nil {
			pc.conn.Close()
		}
	})
}

// TCP connection outcomes, for turnstile_tcp_connections_total{outcome}.
type tcpOutcome uint8

const (
	tcpConnected   tcpOutcome = iota // a Connect's connection opened
	tcpFailed                        // refused, reset or unreachable (447)
	tcpTimedOut                      // the connect timeout passed (447)
	tcpAccepted                      // a permitted peer connected in (§5.3)
	tcpRefused                       // an incoming connection without permission, beyond the limits or while draining
	tcpBound                         // a ConnectionBind joined it to a client data connection
	tcpBindTimeout                   // nobody bound it within 30 s
	tcpClosed                        // a bound connection ended
	tcpOutcomeCount
)

var tcpOutcomeLabels = [tcpOutcomeCount]string{
	"connected", "failed", "timeout", "accepted", "refused", "bound", "bind_timeout", "closed",
}

func (o tcpOutcome) String() string { return tcpOutcomeLabels[o] }

// tcpStats counts TCP relaying for Server.Stats.
type tcpStats struct {
	outcomes [tcpOutcomeCount]atomic.Uint64
	// relaying is the gauge of bound connections copying bytes.
	relaying atomic.Int64
	// toPeer and toClient count relayed bytes by direction.
	toPeer, toClient atomic.Uint64
}

func (t *tcpStats) outcome(o tcpOutcome) { t.outcomes[o].Add(1) }

// TCPRelayStats is a snapshot of TCP relaying (RFC 6062).
type TCPRelayStats struct {
	// Relaying is the number of bound connections copying bytes now.
	Relaying int64
	// Outcomes counts connections by what became of them, by label
	// (connected, failed, timeout, accepted, refused, bound,
	// bind_timeout, closed).
	Outcomes map[string]uint64
	// BytesToPeer and BytesToClient count relayed bytes by direction.
	BytesToPeer, BytesToClient uint64
}

// TCPRelayStats returns the TCP relaying counters.
func (s *Server) TCPRelayStats() TCPRelayStats {
	out := TCPRelayStats{
		Relaying:      s.tcpStats.relaying.Load(),
		Outcomes:      make(map[string]uint64, tcpOutcomeCount),
		BytesToPeer:   s.tcpStats.toPeer.Load(),
		BytesToClient: s.tcpStats.toClient.Load(),
	}
	for o := range tcpOutcomeCount {
		out.Outcomes[o.String()] = s.tcpStats.outcomes[o].Load()
	}
	return out
}

// dialPeer opens a Connect's connection from the allocation's relayed
// address (RFC 6062 §5.2) on a goroutine of its own, which ends with the
// dial. The core bounds the wait on the injected clock (Expire answers 447
// and closes the attempt); the dialer's own timeout is only a backstop.
func (s *Server) dialPeer(sess *session, act *turncore.Action) {
	ctx, cancel := context.WithCancel(context.Background())
	pc := &peerConn{id: act.Conn, cancel: cancel}
	s.tcpMu.Lock()
	s.dialing[act.Conn] = pc
	s.tcpMu.Unlock()
	local := sess.tcp.local
	peer := act.To // the extension's translation of act.Peer, if any
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		d := net.Dialer{
			LocalAddr: net.TCPAddrFromAddrPort(local),
			Timeout:   s.cfg.TCPRelay.ConnectTimeout + time.Minute,
			Control: func(_, _ string, rc syscall.RawConn) error {
				var serr error
				if err := rc.Control(func(fd uintptr) { serr = reuseSockopts(int(fd)) }); err != nil {
					return err
				}
				return serr
			},
		}
		c, err := d.DialContext(ctx, "tcp", peer.String())
		s.tcpMu.Lock()
		delete(s.dialing, pc.id)
		s.tcpMu.Unlock()
		ok := err == nil
		// The dial's entry only cancels; the open connection is a
		// peerConn of its own, handed to the core.
		var open *peerConn
		if ok {
			open = &peerConn{id: pc.id, conn: c.(*net.TCPConn)}
		}
		cancel()
		ans := s.core.ConnectDone(pc.id, open, ok, s.clock.Now())
		switch {
		case ans.Close:
			c.Close()
		case ok:
			s.tcpStats.outcome(tcpConnected)
			s.countRequest(stunmsg.Connect, 0)
		case ans.Alloc != nil:
			s.tcpStats.outcome(tcpFailed)
			s.countRequest(stunmsg.Connect, stunmsg.CodeConnectionTimeoutOrFailure)
		}
		if ans.Alloc != nil {
			s.toControl(ans.Alloc, ans.Response)
		}
	}()
}

// toControl sends a message to a TCP allocation's control connection.
func (s *Server) toControl(a *allocation.Allocation, msg []byte) {
	sess, _ := a.Ext.(*session)
	if sess == nil || msg == nil || sess.client.stream == nil {
		return
	}
	if !sess.client.stream.enqueue(msg, true) {
		s.streamCounters.drop(DropStreamBackpressure)
	}
}

// closeConnection carries out an ActCloseConnection: close the peer
// connection or abandon its dial, and send the Connect's 447 if one is due.
func (s *Server) closeConnection(act *turncore.Action) {
	if pc, _ := act.Handle.(*peerConn); pc != nil {
		pc.close()
		if act.Expired {
			s.tcpStats.outcome(tcpBindTimeout)
		}
	} else {
		s.tcpMu.Lock()
		pc := s.dialing[act.Conn]
		delete(s.dialing, act.Conn)
		s.tcpMu.Unlock()
		if pc != nil {
			pc.close()
		}
		if act.Expired {
			s.tcpStats.outcome(tcpTimedOut)
		}
	}
	if act.Data != nil {
		s.countRequest(stunmsg.Connect, stunmsg.CodeConnectionTimeoutOrFailure)
		s.toControl(act.Alloc, act.Data)
	}
}

// halfCloser is a connection whose sending side can be shut alone (TCP,
// and TLS with close_notify).
type halfCloser interface{ CloseWrite() error }

// pipePair copies both ways between a client data connection and its peer
// connection after ConnectionBind (RFC 6062 §5.4) on the caller's
// goroutine (client to peer) and one more (peer to client), each through
// one fixed buffer. A direction that ends with EOF half-closes the other
// side (CloseWrite); an error, or a pair idle for the idle timeout, closes
// both. fromClient is where the client's bytes are read from (it may hold
// bytes read ahead of the ConnectionBind).
func (s *Server) pipePair(client net.Conn, fromClient io.Reader, pc *peerConn) {
	s.tcpStats.outcome(tcpBound)
	s.tcpStats.relaying.Add(1)
	defer s.tcpStats.relaying.Add(-1)
	var last atomic.Int64 // the last time either direction moved bytes
	last.Store(int64(mono.Now()))
	idle := s.cfg.TCPRelay.IdleTimeout
	done := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		s.copyHalf(client, pc.conn, pc.conn, &last, idle, &s.tcpStats.toClient)
	}()
	s.copyHalf(pc.conn, fromClient, client, &last, idle, &s.tcpStats.toPeer)
	<-done
	pc.close()
	client.Close()
	if s.core.ConnectionClosed(pc.id) {
		s.tcpStats.outcome(tcpClosed)
	}
}

// copyHalf copies src to dst until src ends, then half-closes dst; on an
// error it closes both. srcConn carries src's read deadline.
func (s *Server) copyHalf(dst net.Conn, src io.Reader, srcConn net.Conn, last *atomic.Int64, idle time.Duration, count *atomic.Uint64) {
	buf := make([]byte, tcpPipeBuffer)
	for {
		srcConn.SetReadDeadline(time.Now().Add(idle))
		n, err := src.Read(buf)
		if n > 0 {
			last.Store(int64(mono.Now()))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				dst.Close()
				srcConn.Close()
				return
			}
			count.Add(uint64(n))
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			if hc, ok := dst.(halfCloser); ok {
				hc.CloseWrite()
			} else {
				dst.Close()
			}
			return
		case errors.Is(err, os.ErrDeadlineExceeded) && mono.Now().Sub(mono.Time(last.Load())) < idle:
			// The other direction is busy: the pair is not idle.
		default:
			dst.Close()
			srcConn.Close()
			return
		}
	}
}

// Defaults of TCPRelayConfig.
const (
	// DefaultTCPRelayIdleTimeout closes a relayed TCP connection on which
	// neither side sent a byte for this long (long enough for an idle SSH
	// session that sends keepalives).
	DefaultTCPRelayIdleTimeout = time.Hour
)

// TCPRelayConfig turns on TCP relaying (RFC 6062) and bounds it.
type TCPRelayConfig struct {
	Enabled bool
	// ConnectTimeout bounds a Connect's outbound connection; 0 means
	// turncore.DefaultConnectTimeout (30 s), and RFC 6062 §5.2 allows no
	// less.
	ConnectTimeout time.Duration
	// MaxPerAllocation, MaxPerUser and MaxPending bound peer data
	// connections (turncore.TCPConfig); 0 means the core's default.
	MaxPerAllocation, MaxPerUser, MaxPending int
	// IdleTimeout closes a bound connection idle both ways this long; 0
	// means DefaultTCPRelayIdleTimeout.
	IdleTimeout time.Duration
}

// check fills in defaults and refuses what the RFC does not allow.
func (c *TCPRelayConfig) check() error {
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = turncore.DefaultConnectTimeout
	}
	if c.ConnectTimeout < turncore.DefaultConnectTimeout {
		return errors.New("relay: TCPRelay.ConnectTimeout below RFC 6062's 30 s")
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultTCPRelayIdleTimeout
	}
	if c.IdleTimeout < 0 || c.MaxPerAllocation < 0 || c.MaxPerUser < 0 || c.MaxPending < 0 {
		return errors.New("relay: negative TCPRelay setting")
	}
	return nil
}
