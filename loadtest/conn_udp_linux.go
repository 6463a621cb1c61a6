package loadtest

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/turnstile-relay/turnstile/internal/netio"
)

// udpConn is a connected UDP socket read with recvmmsg(2) and written with
// sendmmsg(2), or UDP segmentation when Config.GSO asks for it, through
// netio, without allocating per packet. The socket is connected, so sends
// name no destination.
type udpConn struct {
	c      *net.UDPConn
	r      *netio.Conn // the reading goroutine's
	rb     *netio.Batch
	frames [][]byte
	w      batchSender // the writing goroutine's (writeFrames)
	wb     *netio.Batch
	seg    netio.SegmentScratch
	// segment is Config.GSO, false once the kernel refused a segmented
	// send.
	segment bool
	// one sends writeFrame's single frames; writeFrame may be called from
	// any goroutine, so it has its own Conn and lock.
	oneMu      sync.Mutex
	one        *netio.Conn
	oneScratch netio.Scratch
}

// batchSender is the part of netio.Conn that writeFrames and the echo
// peers send with; tests put a recorder in its place to see which calls
// the generator makes.
type batchSender interface {
	SendBatch(b *netio.Batch, n int) (int, error)
	SendSegments(segs [][]byte, to netip.AddrPort, sc *netio.SegmentScratch) error
}

// newUDPConn takes over c, closing it on an error. gso lets writeFrames
// join a window of equal frames into one segmented send.
func newUDPConn(c *net.UDPConn, readBatch, writeBatch, bufSize int, gso bool) (*udpConn, error) {
	fail := func(err error) (*udpConn, error) {
		c.Close()
		return nil, err
	}
	readBatch = min(max(1, readBatch), netio.MaxBatch)
	writeBatch = min(max(1, writeBatch), netio.MaxBatch)
	u := &udpConn{c: c, frames: make([][]byte, 0, readBatch), segment: gso}
	var err error
	if u.rb, err = netio.NewBatch(readBatch, bufSize, 0); err != nil {
		return fail(err)
	}
	if u.wb, err = netio.NewBatch(writeBatch, bufSize, 0); err != nil {
		return fail(err)
	}
	var w *netio.Conn
	for _, conn := range []**netio.Conn{&u.r, &w, &u.one} {
		if *conn, err = netio.NewConn(c); err != nil {
			return fail(err)
		}
	}
	u.w = w
	return u, nil
}

func (u *udpConn) readFrames() ([][]byte, error) {
	n, err := u.r.RecvBatch(u.rb)
	if err != nil {
		return nil, err
	}
	u.frames = u.frames[:0]
	for i := range n {
		u.frames = append(u.frames, u.rb.Data(i))
	}
	return u.frames, nil
}

// writeFrames sends the frames in batches of sendmmsg, one datagram per
// entry, copying them into its buffers; with GSO, a burst that the kernel
// can cut back into these frames (a window of equal probes) leaves as one
// segmented send instead.
func (u *udpConn) writeFrames(frames [][]byte) error {
	if u.segment && netio.Segmentable(frames) {
		err := u.w.SendSegments(frames, netip.AddrPort{}, &u.seg)
		if !errors.Is(err, netio.ErrSegmentsRefused) {
			return err
		}
		u.segment = false // send them one by one from now on
	}
	for len(frames) > 0 {
		k := min(len(frames), u.wb.Len())
		for i, f := range frames[:k] {
			n := copy(u.wb.Buffer(i), f)
			if err := u.wb.SetData(i, 0, n); err != nil || n < len(f) {
				return netio.ErrBounds
			}
		}
		if _, err := u.w.SendBatch(u.wb, k); err != nil {
			return err
		}
		frames = frames[k:]
	}
	return nil
}

// writeFrame sends f with a raw send system call, like writeFrames:
// net.UDPConn's Write announces every send to the scheduler (entersyscall),
// which under churn made the generator's sysmon thread a noticeable cost.
func (u *udpConn) writeFrame(f []byte) error {
	u.oneMu.Lock()
	defer u.oneMu.Unlock()
	return u.one.SendTo(f, netip.AddrPort{}, &u.oneScratch)
}

func (u *udpConn) setReadDeadline(t time.Time) error { return u.c.SetReadDeadline(t) }
func (u *udpConn) close() error                      { return u.c.Close() }
func (u *udpConn) stream() bool                      { return false }
