package loadtest

import (
	"errors"
	"net"
	"sync/atomic"

	"github.com/turnstile-relay/turnstile/internal/netio"
)

// echoServer echoes datagrams in batches: one recvmmsg(2) fills up to
// echoBatch buffers with their source addresses, and they go back in one
// sendmmsg(2), one datagram per entry, as a media peer answers. With GSO
// (Config.GSO, a best case), consecutive datagrams from one source that
// the kernel can cut apart again (equal sizes, a shorter last) go back as
// one segmented send (UDP_SEGMENT), so a relay's burst costs the echo peer
// one trip down the stack; the datagrams between such runs go back in one
// sendmmsg(2). No allocation per packet.
type echoServer struct {
	conn   echoConn
	in     *netio.Batch // received datagrams and their sources
	echoed *atomic.Uint64
	// out holds copies of the single datagrams between runs, which must
	// leave before the next run to keep each source's order.
	out  *netio.Batch
	segs [][]byte // the run being sent
	sc   netio.SegmentScratch
	// segment is false once the kernel refused a segmented send.
	segment bool
}

// echoConn is the part of netio.Conn an echo peer uses; tests put a
// recorder in its place.
type echoConn interface {
	batchSender
	RecvBatch(b *netio.Batch) (int, error)
}

func newEchoServer(c *net.UDPConn, maxDatagram int, echoed *atomic.Uint64, gso bool) (*echoServer, error) {
	conn, err := netio.NewConn(c)
	if err != nil {
		return nil, err
	}
	in, err := netio.NewBatch(echoBatch, maxDatagram, 0)
	if err != nil {
		return nil, err
	}
	out, err := netio.NewBatch(echoBatch, maxDatagram, 0)
	if err != nil {
		return nil, err
	}
	return &echoServer{
		conn:    conn,
		in:      in,
		out:     out,
		segs:    make([][]byte, 0, netio.MaxSegments),
		echoed:  echoed,
		segment: gso,
	}, nil
}

func (e *echoServer) serve() {
	for {
		n, err := e.conn.RecvBatch(e.in)
		if err != nil {
			if echoFatal(err) {
				return
			}
			continue
		}
		// A received message holds the datagram and its source, which is
		// what sending it back needs.
		if e.segment {
			err = e.sendRuns(n)
		} else {
			_, err = e.conn.SendBatch(e.in, n)
		}
		if err != nil && echoFatal(err) {
			return
		}
		e.echoed.Store(e.echoed.Load() + uint64(n))
	}
}

// sendRuns sends the n received datagrams back in order: each run of
// datagrams to one source that joins (see joins) as one segmented send,
// the single datagrams between runs together in one batch.
func (e *echoServer) sendRuns(n int) error {
	singles := 0
	for i := 0; i < n; {
		size := len(e.in.Data(i))
		j, total := i+1, size
		for j < n && e.segment && e.joins(i, j, size, total) {
			total += len(e.in.Data(j))
			j++
		}
		if j-i == 1 {
			e.queueSingle(singles, i)
			singles++
			i = j
			continue
		}
		if err := e.flushSingles(singles); err != nil {
			return err
		}
		singles = 0
		e.segs = e.segs[:0]
		for k := i; k < j; k++ {
			e.segs = append(e.segs, e.in.Data(k))
		}
		err := e.conn.SendSegments(e.segs, e.in.Addr(i), &e.sc)
		if errors.Is(err, netio.ErrSegmentsRefused) {
			e.segment = false // this run and all later ones one by one
			continue
		}
		if err != nil {
			return err
		}
		i = j
	}
	return e.flushSingles(singles)
}

// queueSingle copies received datagram i into slot k of the out batch.
func (e *echoServer) queueSingle(k, i int) {
	data := e.in.Data(i)
	copy(e.out.Buffer(k), data)
	_ = e.out.SetData(k, 0, len(data)) // the batches have equal buffers
	e.out.SetAddr(k, e.in.Addr(i))
}

func (e *echoServer) flushSingles(k int) error {
	_, err := e.conn.SendBatch(e.out, k)
	return err
}

// joins reports whether datagram j may follow datagrams [i, j) in one
// segmented send of size-byte segments holding total bytes so far: same
// destination, not empty (an empty datagram would vanish in the stream),
// no longer than size, after a full-size predecessor, within the kernel's
// limits.
func (e *echoServer) joins(i, j, size, total int) bool {
	n := len(e.in.Data(j))
	return j-i < netio.MaxSegments && size > 0 && n > 0 && n <= size &&
		len(e.in.Data(j-1)) == size && total+n <= netio.MaxSegmentsBytes &&
		e.in.Addr(j) == e.in.Addr(i)
}
