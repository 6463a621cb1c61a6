package loadtest

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/loadtest/latency"
	"github.com/turnstile-relay/turnstile/loadtest/turnwire"
)

// echoFakeConn is a frameConn that plays server and echo peer at once:
// every frame written comes back on the next read, a Send indication turned
// into the Data indication a server would relay back (same layout, RFC 8656
// §11). Its buffers are preallocated so it adds no allocations of its own.
// Frames whose index is in drop are swallowed.
type echoFakeConn struct {
	bufs    [][]byte
	frames  [][]byte
	pending int
	written int
	drop    map[int]bool
}

func newEchoFakeConn(n, size int) *echoFakeConn {
	c := &echoFakeConn{frames: make([][]byte, 0, n)}
	for i := 0; i < n; i++ {
		c.bufs = append(c.bufs, make([]byte, size))
	}
	return c
}

func (c *echoFakeConn) readFrames() ([][]byte, error) {
	c.frames = c.frames[:0]
	for i := 0; i < c.pending; i++ {
		c.frames = append(c.frames, c.bufs[i])
	}
	c.pending = 0
	return c.frames, nil
}

func (c *echoFakeConn) writeFrames(frames [][]byte) error {
	for _, f := range frames {
		if err := c.writeFrame(f); err != nil {
			return err
		}
	}
	return nil
}

func (c *echoFakeConn) writeFrame(f []byte) error {
	c.written++
	if c.drop[c.written] {
		return nil
	}
	b := c.bufs[c.pending][:len(f)]
	copy(b, f)
	if binary.BigEndian.Uint16(b[0:2]) == 0x0016 {
		binary.BigEndian.PutUint16(b[0:2], 0x0017)
	}
	c.bufs[c.pending] = b
	c.pending++
	return nil
}

func (c *echoFakeConn) setReadDeadline(time.Time) error { return nil }
func (c *echoFakeConn) close() error                    { return nil }
func (c *echoFakeConn) stream() bool                    { return false }

// fakeSession is a session on an echoFakeConn with the given send path.
func fakeSession(t testing.TB, path SendPath, inFlight int) (*runState, *session, *echoFakeConn) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.InFlight = inFlight
	conn := newEchoFakeConn(inFlight, 512)
	s := &session{id: 3, payload: cfg.PayloadSize, peer: netip.MustParseAddrPort("127.0.0.1:5000")}
	s.cl.conn = conn
	if path == SendChannel {
		s.channel = turnwire.ChannelMin
	}
	r := &runState{cfg: &cfg, hist: latency.New(1), sessions: []*session{s}}
	r.win.set(0, 1<<62)
	return r, s, conn
}
