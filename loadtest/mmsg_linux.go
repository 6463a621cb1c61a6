package loadtest

import (
	"encoding/binary"
	"errors"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsgBatch is a reusable set of message headers for recvmmsg(2) and
// sendmmsg(2) on one UDP socket, driven through syscall.RawConn so that
// Go's poller waits for readiness and honours deadlines. After construction
// it does not allocate. It is not safe for concurrent use: one goroutine
// owns it.
type mmsgBatch struct {
	rc    syscall.RawConn
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // nil unless the batch carries addresses
	bufs  [][]byte                // receive buffers, one per header

	// Arguments and results of the call in flight, read by the bound
	// functions below (method values created once, so RawConn.Read/Write
	// calls do not allocate a closure each time).
	count  int
	n      int
	errno  syscall.Errno
	readF  func(fd uintptr) bool
	writeF func(fd uintptr) bool
}

// newMmsgBatch prepares count headers over rc. With bufSize > 0 each header
// gets its own receive buffer of that size; withNames reserves a socket
// address per header (for unconnected sockets).
func newMmsgBatch(rc syscall.RawConn, count, bufSize int, withNames bool) *mmsgBatch {
	b := &mmsgBatch{
		rc:   rc,
		hdrs: make([]unix.Mmsghdr, count),
		iovs: make([]unix.Iovec, count),
	}
	if withNames {
		b.names = make([]unix.RawSockaddrInet6, count)
	}
	if bufSize > 0 {
		b.bufs = make([][]byte, count)
		backing := make([]byte, count*bufSize)
		for i := range b.bufs {
			b.bufs[i] = backing[i*bufSize : (i+1)*bufSize : (i+1)*bufSize]
		}
	}
	for i := range b.hdrs {
		h := &b.hdrs[i].Hdr
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
	}
	b.readF = b.recvmmsg
	b.writeF = b.sendmmsg
	return b
}

// prepareRecv points every header at its full receive buffer.
func (b *mmsgBatch) prepareRecv() {
	for i := range b.hdrs {
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(len(b.bufs[i]))
		b.hdrs[i].Len = 0
		if b.names != nil {
			b.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&b.names[i]))
			b.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		}
	}
}

// recv blocks until at least one datagram is available (or the deadline
// passes) and receives up to len(hdrs) of them. Datagram i is
// b.bufs[i][:b.hdrs[i].Len], and its source is b.names[i] when names are
// kept.
func (b *mmsgBatch) recv() (int, error) {
	b.prepareRecv()
	b.count = len(b.hdrs)
	if err := b.rc.Read(b.readF); err != nil {
		return 0, err
	}
	if b.errno != 0 {
		return 0, b.errno
	}
	return b.n, nil
}

// recvmmsg and sendmmsg use RawSyscall6: with MSG_DONTWAIT they cannot
// block, and telling the scheduler about each call costs more than the call
// (and keeps the runtime's sysmon thread waking every 20 µs).
func (b *mmsgBatch) recvmmsg(fd uintptr) bool {
	for {
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(b.count), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // let the poller wait for readability
		}
		b.n, b.errno = int(n), errno
		return true
	}
}

// send transmits datagrams 0..count-1 whose iovecs the caller has set
// (setSend), retrying the rest after a partial send; it returns once all are
// sent or on the first error.
func (b *mmsgBatch) send(count int) error {
	_, err := b.sendCount(count)
	return err
}

// sendFrom sends datagrams from..count-1, as send does for 0..count-1.
func (b *mmsgBatch) sendFrom(from, count int) error {
	hdrs := b.hdrs
	b.hdrs = b.hdrs[from:]
	_, err := b.sendCount(count - from)
	b.hdrs = hdrs
	return err
}

// sendCount is send that also reports how many headers were sent.
func (b *mmsgBatch) sendCount(count int) (int, error) {
	sent := 0
	for sent < count {
		b.count = count - sent
		hdrs := b.hdrs
		b.hdrs = b.hdrs[sent:]
		err := b.rc.Write(b.writeF)
		b.hdrs = hdrs
		if err != nil {
			return sent, err
		}
		if b.errno != 0 {
			return sent, b.errno
		}
		sent += b.n
	}
	return sent, nil
}

func (b *mmsgBatch) sendmmsg(fd uintptr) bool {
	for {
		n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(b.count), unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // let the poller wait for writability
		}
		b.n, b.errno = int(n), errno
		return true
	}
}

// setSend points header i at frame for sending; frame must stay untouched
// until send returns. Addresses (names) are left as they are.
func (b *mmsgBatch) setSend(i int, frame []byte) {
	b.iovs[i].Base = unsafe.SliceData(frame)
	b.iovs[i].SetLen(len(frame))
}

// isConnRefused reports the asynchronous ICMP port-unreachable error a
// connected UDP socket returns when nothing listens at the server address.
func isConnRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// segmenter sends several equal datagrams (the last may be shorter) on a
// connected socket as one sendmsg with UDP generic segmentation offload
// (UDP_SEGMENT): the kernel cuts them after routing, so the generator pays
// for one trip down the stack instead of one per probe. On loopback the
// datagrams reach a receiving socket that set UDP_GRO still coalesced, as
// a NIC's GRO would deliver a burst of one flow; any other socket gets
// them one by one.
type segmenter struct {
	b      *mmsgBatch // its iovecs hold the datagrams
	hdr    unix.Msghdr
	ctrl   []byte
	errno  syscall.Errno
	writeF func(fd uintptr) bool
}

func newSegmenter(b *mmsgBatch) *segmenter {
	s := &segmenter{b: b, ctrl: make([]byte, unix.CmsgSpace(2))}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&s.ctrl[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	s.writeF = s.sendmsg
	return s
}

// send sends frames, which fit the batch's iovecs and satisfy
// netio.Segmentable.
func (s *segmenter) send(frames [][]byte) error {
	for i, f := range frames {
		s.b.setSend(i, f)
	}
	binary.NativeEndian.PutUint16(s.ctrl[unix.CmsgLen(0):], uint16(len(frames[0])))
	s.hdr = unix.Msghdr{Iov: &s.b.iovs[0], Control: &s.ctrl[0]}
	s.hdr.SetIovlen(len(frames))
	s.hdr.SetControllen(len(s.ctrl))
	if err := s.b.rc.Write(s.writeF); err != nil {
		return err
	}
	if s.errno != 0 {
		return s.errno
	}
	return nil
}

func (s *segmenter) sendmsg(fd uintptr) bool {
	for {
		_, _, errno := unix.RawSyscall(unix.SYS_SENDMSG, fd, uintptr(unsafe.Pointer(&s.hdr)), unix.MSG_DONTWAIT)
		switch errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		s.errno = errno
		return true
	}
}

// segmentsRefused reports errors after which a socket stops trying
// segmented sends: the kernel or the route cannot segment.
func segmentsRefused(err error) bool {
	return errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) ||
		errors.Is(err, unix.ENOPROTOOPT) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EMSGSIZE)
}
