package relay

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// Stream transport limits that are not worth a setting (the bytes a
// connection may queue are: Config.TCPWriteBudget).
const (
	streamQueue       = 256       // frames waiting to be written to one connection
	streamReadBuffer  = 4096      // bufio size for reading frames
	streamWriteBuffer = 16 * 1024 // bufio size for writing frames
	framePoolSize     = 2048      // pooled frame buffers; larger frames allocate
)

var framePool = sync.Pool{New: func() any { b := make([]byte, 0, framePoolSize); return &b }}

// toRaw is queued after a ConnectionBind's success response: the writer
// flushes what came before and hands the connection over to raw bytes
// (RFC 6062 §5.4).
var toRaw = new([]byte)

// listenStreams opens the TCP and TLS listeners and starts their accept loops.
func (s *Server) listenStreams() error {
	type spec struct {
		addrs []netip.AddrPort
		tr    allocation.Transport
	}
	for _, sp := range []spec{{s.cfg.TCPListen, allocation.TransportTCP}, {s.cfg.TLSListen, allocation.TransportTLS}} {
		for _, ap := range sp.addrs {
			l, err := net.Listen("tcp", ap.String())
			if err != nil {
				return err
			}
			if sp.tr == allocation.TransportTLS {
				l = tls.NewListener(l, s.cfg.TLS)
			}
			s.streams = append(s.streams, l)
			s.streamKinds = append(s.streamKinds, sp.tr)
		}
	}
	return nil
}

// acceptStreams starts an accept loop per stream listener; Start calls it
// once the core knows every own socket, so no connection is served before.
func (s *Server) acceptStreams() {
	for i, l := range s.streams {
		tr := s.streamKinds[i]
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.accept(l, tr) }()
	}
}

// accept runs one listener's accept loop until the server closes.
func (s *Server) accept(l net.Listener, tr allocation.Transport) {
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off instead of spinning.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "error", err.Error(), "backoff", backoff.String())
			select {
			case <-time.After(backoff):
			case <-s.done:
				return
			}
			continue
		}
		backoff = 0
		if s.connCount.Add(1) > int64(s.cfg.TCPMaxConnections) {
			s.connCount.Add(-1)
			s.streamCounters.drop(DropStreamConnectionLimit)
			c.Close()
			continue
		}
		if !s.sources.acquire(c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()) {
			s.connCount.Add(-1)
			s.streamCounters.drop(DropStreamSourceLimit)
			c.Close()
			continue
		}
		sc := newStreamConn(s, c, tr)
		s.streamMu.Lock()
		if s.closing.Load() {
			s.streamMu.Unlock()
			sc.close()
			s.sources.release(sc.ft.Client.Addr())
			s.connCount.Add(-1)
			return
		}
		s.conns[sc] = struct{}{}
		s.streamMu.Unlock()
		s.wg.Add(2)
		go func() { defer s.wg.Done(); sc.writeLoop() }()
		go func() { defer s.wg.Done(); sc.readLoop() }()
	}
}

// streamConn is one client TCP or TLS connection: a 5-tuple carrying STUN
// and ChannelData frames (RFC 8656 §12.5), with at most one allocation.
// It has a reader and a writer goroutine; writes from the packet loops go
// through a queue bounded in frames and in bytes (budget), so a slow client
// can neither stall a loop nor make the relay hold more than its budget.
type streamConn struct {
	s      *Server
	conn   net.Conn
	ft     allocation.FiveTuple
	out    chan *[]byte
	done   chan struct{}
	budget writeBudget

	closeOnce sync.Once
	mu        sync.Mutex
	sess      *session
	// bound is the peer connection a ConnectionBind on this connection
	// joined it to; set on the reading goroutine only.
	bound *peerConn
	// rawReady is closed by the writer once it flushed everything before
	// toRaw.
	rawReady chan struct{}
}

// bindPeer records the ConnectionBind's peer connection; the reader turns
// the connection into raw bytes after the response (readLoop).
func (c *streamConn) bindPeer(pc *peerConn) { c.bound = pc }

func newStreamConn(s *Server, c net.Conn, tr allocation.Transport) *streamConn {
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	remote := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	return &streamConn{
		s:    s,
		conn: c,
		ft: allocation.FiveTuple{
			Client:    peerAddr(remote),
			Server:    peerAddr(local),
			Transport: tr,
		},
		out:      make(chan *[]byte, streamQueue),
		done:     make(chan struct{}),
		rawReady: make(chan struct{}),
		budget:   newWriteBudget(s.cfg.TCPWriteBudget),
	}
}

// attach records the connection's allocation so closing the connection
// deletes it.
func (c *streamConn) attach(sess *session) {
	c.mu.Lock()
	c.sess = sess
	c.mu.Unlock()
}

// detach forgets sess if it is the connection's allocation.
func (c *streamConn) detach(sess *session) {
	c.mu.Lock()
	if c.sess == sess {
		c.sess = nil
	}
	c.mu.Unlock()
}

// enqueue copies one frame into the write queue; false when the
// connection is closed or the frame does not fit its share of the queue
// and the write budget (the client reads too slowly). A response may use
// the reserve that data cannot (streambudget.go).
func (c *streamConn) enqueue(b []byte, response bool) bool {
	slots := streamQueue - responseReserveFrames
	if response {
		slots = streamQueue
	}
	cost := frameCost(len(b))
	if len(c.out) >= slots || !c.budget.take(cost, response) {
		return false
	}
	bp := framePool.Get().(*[]byte)
	*bp = append((*bp)[:0], b...)
	select {
	case <-c.done:
	default:
		select {
		case c.out <- bp:
			return true
		default:
		}
	}
	c.release(bp)
	return false
}

// release returns a dequeued or refused frame's buffer to the pool and its
// cost to the budget.
func (c *streamConn) release(bp *[]byte) {
	c.budget.give(frameCost(len(*bp)))
	putFrame(bp)
}

func putFrame(bp *[]byte) {
	if cap(*bp) <= framePoolSize {
		framePool.Put(bp)
	}
}

// close closes the connection once; the reader and writer then finish.
func (c *streamConn) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		c.conn.Close()
	})
}

// readLoop reads frames until the connection fails, idles out or sends a
// frame that is neither STUN nor ChannelData or is too large (framing is then
// lost, so the connection is closed). Closing the connection deletes its
// allocation: over TCP and TLS the allocation lives and dies with it.
func (c *streamConn) readLoop() {
	s := c.s
	defer func() {
		c.close()
		c.mu.Lock()
		sess := c.sess
		c.mu.Unlock()
		if sess != nil {
			s.deleteAllocation(sess.alloc, s.clock.Now(), EventDeleted)
		}
		s.streamMu.Lock()
		delete(s.conns, c)
		s.streamMu.Unlock()
		s.sources.release(c.ft.Client.Addr())
		s.connCount.Add(-1)
	}()
	tr := transportTCP
	if c.ft.Transport == allocation.TransportTLS {
		tr = transportTLS
	}
	h := newHandler(s, &s.streamCounters)
	path := clientPath{ft: c.ft, stream: c}
	r := bufio.NewReaderSize(c.conn, streamReadBuffer)
	frame := make([]byte, 0, framePoolSize)
	var head [4]byte
	for {
		c.conn.SetReadDeadline(time.Now().Add(s.cfg.TCPIdleTimeout))
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return
		}
		total, ok := s.channels.FrameLength(head[:])
		if !ok || total > s.cfg.TCPMaxFrame {
			s.streamCounters.drop(DropStreamFrame)
			return
		}
		if cap(frame) < total {
			frame = make([]byte, 0, total)
		}
		frame = append(frame[:0], head[:]...)
		frame = frame[:total]
		if _, err := io.ReadFull(r, frame[4:]); err != nil {
			return
		}
		now := s.clock.Now()
		if s.channels.Classify(frame) == stunmsg.KindChannelData {
			s.relayChannelData(c.ft, frame, now, &h.sender, &s.streamCounters, tr)
		} else {
			h.handleSTUN(&path, frame, now)
		}
		if pc := c.bound; pc != nil {
			// RFC 6062 §5.4: the success response is the last STUN on
			// this connection; then it carries the peer's bytes as they
			// are, including what the client sent right behind the
			// request (already in r).
			select {
			case c.out <- toRaw:
			case <-c.done:
				pc.close()
				s.core.ConnectionClosed(pc.id)
				return
			}
			select {
			case <-c.rawReady:
			case <-c.done:
				pc.close()
				s.core.ConnectionClosed(pc.id)
				return
			}
			s.pipePair(c.conn, r, pc)
			return
		}
	}
}

// writeLoop writes queued frames, batching them into few syscalls over TCP.
func (c *streamConn) writeLoop() {
	w := bufio.NewWriterSize(c.conn, streamWriteBuffer)
	for {
		var bp *[]byte
		select {
		case bp = <-c.out:
		case <-c.done:
			c.drainQueue()
			return
		}
		for bp != nil {
			if bp == toRaw {
				if w.Flush() != nil {
					c.close()
					c.drainQueue()
					return
				}
				close(c.rawReady)
				return
			}
			_, err := w.Write(*bp)
			c.release(bp)
			if err == nil && c.ft.Transport == allocation.TransportTLS {
				// One TLS record per frame: deployed TLS clients (coturn's
				// uclient measured 15 % loss otherwise) read one message per
				// record and drop the rest of a record holding several.
				err = w.Flush()
			}
			if err != nil {
				c.close()
				c.drainQueue()
				return
			}
			select {
			case bp = <-c.out:
			default:
				bp = nil
			}
		}
		if err := w.Flush(); err != nil {
			c.close()
			c.drainQueue()
			return
		}
	}
}

func (c *streamConn) drainQueue() {
	for {
		select {
		case bp := <-c.out:
			if bp != toRaw {
				c.release(bp)
			}
		default:
			return
		}
	}
}
