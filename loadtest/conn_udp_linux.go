package loadtest

import (
	"net"
	"sync"
	"time"

	"github.com/turnstile-relay/turnstile/internal/netio"
)

// udpConn is a connected UDP socket read with recvmmsg(2) and written with
// sendmmsg(2), without allocating per packet.
type udpConn struct {
	c      *net.UDPConn
	rb     *mmsgBatch
	wb     *mmsgBatch
	seg    *segmenter // nil once the kernel refused a segmented send
	frames [][]byte
	// one sends writeFrame's single frames; writeFrame may be called from
	// any goroutine, so it has its own headers and lock.
	oneMu sync.Mutex
	one   *mmsgBatch
}

func newUDPConn(c *net.UDPConn, readBatch, writeBatch, bufSize int) (*udpConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	readBatch, writeBatch = max(1, readBatch), max(1, writeBatch)
	wb := newMmsgBatch(rc, writeBatch, 0, false)
	return &udpConn{
		c:      c,
		rb:     newMmsgBatch(rc, readBatch, bufSize, false),
		wb:     wb,
		seg:    newSegmenter(wb),
		one:    newMmsgBatch(rc, 1, 0, false),
		frames: make([][]byte, 0, readBatch),
	}, nil
}

func (u *udpConn) readFrames() ([][]byte, error) {
	n, err := u.rb.recv()
	if err != nil {
		return nil, err
	}
	u.frames = u.frames[:0]
	for i := 0; i < n; i++ {
		u.frames = append(u.frames, u.rb.bufs[i][:u.rb.hdrs[i].Len])
	}
	return u.frames, nil
}

func (u *udpConn) writeFrames(frames [][]byte) error {
	if u.seg != nil && len(frames) <= len(u.wb.iovs) && netio.Segmentable(frames) {
		err := u.seg.send(frames)
		if err == nil || !segmentsRefused(err) {
			return err
		}
		u.seg = nil // send them one by one from now on
	}
	for len(frames) > 0 {
		k := min(len(frames), len(u.wb.hdrs))
		for i := 0; i < k; i++ {
			u.wb.setSend(i, frames[i])
		}
		if err := u.wb.send(k); err != nil {
			return err
		}
		frames = frames[k:]
	}
	return nil
}

// writeFrame sends f with a raw sendmmsg, like writeFrames: net.UDPConn's
// Write announces every send to the scheduler (entersyscall), which under
// churn made the generator's sysmon thread a noticeable cost.
func (u *udpConn) writeFrame(f []byte) error {
	u.oneMu.Lock()
	defer u.oneMu.Unlock()
	u.one.setSend(0, f)
	return u.one.send(1)
}

func (u *udpConn) setReadDeadline(t time.Time) error { return u.c.SetReadDeadline(t) }
func (u *udpConn) close() error                      { return u.c.Close() }
func (u *udpConn) stream() bool                      { return false }
