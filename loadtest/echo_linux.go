package loadtest

import (
	"net"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/turnstile-relay/turnstile/internal/netio"
)

// echoServer echoes datagrams in batches: one recvmmsg(2) fills up to
// echoBatch buffers with their source addresses, one sendmmsg(2) sends them
// back. Consecutive datagrams from one source that the kernel can cut
// apart again (equal sizes, a shorter last) go back as one message with
// UDP_SEGMENT, so a relay's burst costs the echo peer one trip down the
// stack. No allocation per packet.
type echoServer struct {
	b      *mmsgBatch
	echoed *atomic.Uint64
	// out holds one header per run of datagrams going back to one source;
	// ctrl a UDP_SEGMENT control message per header.
	out     *mmsgBatch
	ctrl    []byte
	segment bool // false once the kernel refused a segmented send
}

func newEchoServer(c *net.UDPConn, maxDatagram int, echoed *atomic.Uint64) (*echoServer, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	e := &echoServer{
		b:       newMmsgBatch(rc, echoBatch, maxDatagram, true),
		out:     newMmsgBatch(rc, echoBatch, 0, false),
		ctrl:    make([]byte, echoBatch*unix.CmsgSpace(2)),
		echoed:  echoed,
		segment: true,
	}
	space := unix.CmsgSpace(2)
	for i := range echoBatch {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&e.ctrl[i*space]))
		h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
		h.SetLen(unix.CmsgLen(2))
	}
	return e, nil
}

func (e *echoServer) serve() {
	for {
		n, err := e.b.recv()
		if err != nil {
			if echoFatal(err) {
				return
			}
			continue
		}
		for i := 0; i < n; i++ {
			// Send back exactly what arrived, to where it came from (the
			// name the kernel filled in).
			e.b.iovs[i].SetLen(int(e.b.hdrs[i].Len))
		}
		if e.segment {
			var sent int
			sent, err = e.sendRuns(n)
			if err != nil && segmentsRefused(err) {
				// Send what is left one by one, from now on always.
				e.segment = false
				err = e.b.sendFrom(sent, n)
			}
		} else {
			err = e.b.send(n)
		}
		if err != nil && echoFatal(err) {
			return
		}
		e.echoed.Store(e.echoed.Load() + uint64(n))
	}
}

// sendRuns sends the n received datagrams back as runs: consecutive
// datagrams to one source with sizes the kernel cuts back exactly share one
// header, its iovecs and a UDP_SEGMENT control message. It returns how
// many datagrams were sent before an error.
func (e *echoServer) sendRuns(n int) (int, error) {
	space := unix.CmsgSpace(2)
	runs := 0
	for i := 0; i < n; {
		size := int(e.b.hdrs[i].Len)
		j, total := i+1, size
		for j < n && e.joins(i, j, size, total) {
			total += int(e.b.hdrs[j].Len)
			j++
		}
		h := &e.out.hdrs[runs].Hdr
		*h = e.b.hdrs[i].Hdr
		h.SetIovlen(j - i)
		if j-i > 1 {
			c := e.ctrl[runs*space : (runs+1)*space]
			*(*uint16)(unsafe.Pointer(&c[unix.CmsgLen(0)])) = uint16(size)
			h.Control = &c[0]
			h.SetControllen(space)
		} else {
			h.Control = nil
			h.SetControllen(0)
		}
		runs++
		i = j
	}
	sentRuns, err := e.out.sendCount(runs)
	sent := 0
	for r := range sentRuns {
		sent += int(e.out.hdrs[r].Hdr.Iovlen)
	}
	return sent, err
}

// joins reports whether datagram j may follow datagrams [i, j) in one
// segmented send of size-byte segments holding total bytes so far: same
// destination, not empty (an empty datagram would vanish in the stream),
// no longer than size, after a full-size predecessor, within the kernel's
// limits.
func (e *echoServer) joins(i, j, size, total int) bool {
	n := int(e.b.hdrs[j].Len)
	return j-i < netio.MaxSegments && size > 0 && n > 0 && n <= size &&
		int(e.b.hdrs[j-1].Len) == size && total+n <= netio.MaxSegmentsBytes &&
		e.b.names[j] == e.b.names[i]
}
