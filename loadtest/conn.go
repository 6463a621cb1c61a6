package loadtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/turnstile-relay/turnstile/loadtest/turnwire"
)

// frameConn is one client transport connection to the TURN server that
// carries whole frames: UDP datagrams, or STUN/ChannelData messages cut from
// a TCP/TLS stream.
//
// Concurrency: readFrames and writeFrames belong to one goroutine each (the
// session's loop); writeFrame, setReadDeadline and close may be called from
// any goroutine at any time.
type frameConn interface {
	// readFrames blocks until at least one frame arrives or the read
	// deadline passes. The frames alias the connection's buffers and are
	// valid until the next readFrames call.
	readFrames() ([][]byte, error)
	// writeFrames sends the frames in order, batched into as few system
	// calls as the transport allows. The caller may reuse the frames once it
	// returns.
	writeFrames(frames [][]byte) error
	// writeFrame sends one frame.
	writeFrame(frame []byte) error
	setReadDeadline(t time.Time) error
	close() error
	// stream reports whether frames travel over TCP/TLS (ChannelData must
	// then be padded, RFC 8656 §12.5).
	stream() bool
}

// isConnRefused reports the asynchronous ICMP port-unreachable error a
// connected UDP socket returns when nothing listens at the server address.
func isConnRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// maxControlFrame bounds STUN responses from the server on streams: the
// largest message a server sends a client is an error response with REALM,
// NONCE and reason phrase, far below this.
const maxControlFrame = 4096

// maxDataFrame is the largest frame from the server carrying a probe of
// payload bytes: a Data indication with XOR-PEER-ADDRESS (IPv6: 24 bytes)
// and DATA (padded), plus slack for attributes a server may add (e.g.
// FINGERPRINT).
func maxDataFrame(payload int) int { return turnwire.HeaderSize + 24 + 4 + payload + 3 + 64 }

// maxUDPControl is the receive buffer floor for UDP: servers keep responses
// under the path MTU (RFC 8489 §6.1), so a datagram never exceeds this.
const maxUDPControl = 2048

// dial opens a client connection to the server from source (the kernel
// picks the source address when it is the zero Addr; the port is always the
// kernel's choice). readBatch is how many datagrams one UDP read may return,
// writeBatch how many one batched write sends per system call; payload is
// the probe size, to size buffers.
func dial(ctx context.Context, cfg *Config, t target, source netip.Addr, readBatch, writeBatch, payload int) (frameConn, error) {
	switch cfg.Transport {
	case TransportUDP:
		var local *net.UDPAddr
		if source.IsValid() {
			local = net.UDPAddrFromAddrPort(netip.AddrPortFrom(source, 0))
		}
		c, err := net.DialUDP("udp", local, net.UDPAddrFromAddrPort(t.addr))
		if err != nil {
			return nil, fmt.Errorf("dial udp %v: %w", t.addr, err)
		}
		return newUDPConn(c, readBatch, writeBatch, max(maxUDPControl, maxDataFrame(payload)), cfg.GSO)
	case TransportTCP, TransportTLS:
		d := &net.Dialer{}
		if source.IsValid() {
			d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(source, 0))
		}
		c, err := d.DialContext(ctx, "tcp", t.addr.String())
		if err != nil {
			return nil, fmt.Errorf("dial tcp %v: %w", t.addr, err)
		}
		if cfg.Transport == TransportTLS {
			tc := tls.Client(c, t.tls)
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, fmt.Errorf("tls handshake with %v: %w", t.addr, err)
			}
			c = tc
		}
		// Buffer a few frames per read, but never less than one of each.
		maxFrame := max(maxControlFrame, maxDataFrame(payload))
		bufSize := min(64<<10, max(2*maxFrame, readBatch*maxDataFrame(payload)))
		return newStreamConn(c, maxFrame, bufSize), nil
	default:
		return nil, fmt.Errorf("unknown transport %q", cfg.Transport)
	}
}

// streamConn frames a TCP or TLS connection (RFC 8489 §6.2.2: STUN messages
// are self-delimiting; RFC 8656 §12.5: ChannelData is padded).
type streamConn struct {
	c      net.Conn
	fr     *turnwire.Framer
	frames [][]byte
	wbuf   []byte
}

func newStreamConn(c net.Conn, maxFrame, bufSize int) *streamConn {
	return &streamConn{c: c, fr: turnwire.NewFramer(maxFrame, bufSize)}
}

func (s *streamConn) readFrames() ([][]byte, error) {
	s.frames = s.frames[:0]
	for {
		for {
			f, err := s.fr.Next()
			if err != nil {
				return nil, err
			}
			if f == nil {
				break
			}
			s.frames = append(s.frames, f)
		}
		if len(s.frames) > 0 {
			return s.frames, nil
		}
		n, err := s.c.Read(s.fr.Space())
		s.fr.Advance(n)
		if err != nil && n == 0 {
			return nil, err
		}
	}
}

// writeFrames copies the frames into one buffer and writes it at once, so a
// burst costs one system call (and one TLS record).
func (s *streamConn) writeFrames(frames [][]byte) error {
	s.wbuf = s.wbuf[:0]
	for _, f := range frames {
		s.wbuf = append(s.wbuf, f...)
	}
	_, err := s.c.Write(s.wbuf)
	return err
}

// writeFrame relies on net.Conn writing each call's bytes contiguously
// (net.TCPConn and tls.Conn hold a write lock for the whole call), so frames
// from concurrent writers never interleave.
func (s *streamConn) writeFrame(f []byte) error {
	_, err := s.c.Write(f)
	return err
}

func (s *streamConn) setReadDeadline(t time.Time) error { return s.c.SetReadDeadline(t) }
func (s *streamConn) close() error                      { return s.c.Close() }
func (s *streamConn) stream() bool                      { return true }
