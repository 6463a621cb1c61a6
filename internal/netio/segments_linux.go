package netio

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// MaxSegments is the most datagrams one SendSegments call carries: the
// kernel's UDP_MAX_SEGMENTS, 64 before Linux 6.9 (128 since).
const MaxSegments = 64

// MaxSegmentsBytes bounds the sum of the segments' lengths: the kernel
// builds one UDP datagram of that size before cutting it (an IPv4 packet's
// 65535 bytes less the IP and UDP headers).
const MaxSegmentsBytes = 65507

// ErrSegmentsRefused is returned by SendSegments when the kernel will not
// segment this send: the socket's route has no UDP segmentation (EIO), the
// kernel predates UDP_SEGMENT (ENOPROTOOPT, EOPNOTSUPP, EINVAL), or a
// segment does not fit the path MTU (EINVAL, EMSGSIZE). Nothing was sent;
// the caller sends the datagrams one by one, which also reports an
// oversized datagram's own error. After EIO, ENOPROTOOPT or EOPNOTSUPP the
// socket stops trying and later calls return ErrSegmentsRefused at once.
var ErrSegmentsRefused = errors.New("netio: kernel refused UDP segmentation")

// segmentCmsgSpace is CMSG_SPACE(sizeof(uint16)) on Linux (8-byte aligned
// cmsghdr on 64-bit platforms, 4-byte on 32-bit ones).
var segmentCmsgSpace = unix.CmsgSpace(2)

// SegmentScratch holds the kernel structures of one SendSegments call, so
// the call allocates nothing. It belongs to one goroutine at a time. Its
// zero value is ready.
type SegmentScratch struct {
	sa   sockaddrBytes
	iovs [MaxSegments]unix.Iovec
	oob  [32]byte
	hdr  unix.Msghdr
}

// SendSegments sends segs as len(segs) UDP datagrams to to with a single
// sendmsg(MSG_DONTWAIT) and UDP generic segmentation offload (UDP_SEGMENT,
// Linux 4.18): the kernel routes and builds one large datagram and cuts it
// into datagrams of len(segs[0]) bytes only after the IP layer (on the NIC,
// or in software before the driver), so the per-datagram cost of the
// routing and output path is paid once. The receiver sees ordinary
// datagrams, in order, one per segment.
//
// segs must hold 2 to MaxSegments non-empty datagrams, all as long as the
// first except the last, which may be shorter, and at most
// MaxSegmentsBytes in all; otherwise SendSegments returns ErrBounds and
// sends nothing. The send is all or nothing.
//
// Errors: ErrBounds; ErrSegmentsRefused (send them one by one);
// ErrWouldBlock (the send buffer is full: count drops); ErrAddressFamily;
// ErrClosed; or a unix.Errno. Like SendTo, a failed send is retried once,
// since the failure may be an error left pending by an earlier datagram.
func (s *Socket) SendSegments(segs [][]byte, to netip.AddrPort, sc *SegmentScratch) error {
	size, ok := segmentSize(segs)
	if !ok {
		return ErrBounds
	}
	if s.noSegments.Load() {
		return ErrSegmentsRefused
	}
	if !sc.prepare(segs, size, to, s.family, false) {
		return ErrAddressFamily
	}
	err := s.sendSegmentsMsg(&sc.hdr)
	sc.release(len(segs))
	return err
}

// prepare builds the sendmsg header for segs of size bytes each (the last
// may be shorter) to to, or to the peer of a connected socket. It reports
// false when to cannot be sent from a socket of family.
func (sc *SegmentScratch) prepare(segs [][]byte, size int, to netip.AddrPort, family int, connected bool) bool {
	var salen uint32
	if !connected {
		if salen = encodeSockaddr(&sc.sa, to, family); salen == 0 {
			return false
		}
	}
	for i, seg := range segs {
		sc.iovs[i].Base = unsafe.SliceData(seg)
		sc.iovs[i].SetLen(len(seg))
	}
	oob := sc.oob[:segmentCmsgSpace]
	clear(oob)
	cmsg := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	cmsg.Level = unix.SOL_UDP
	cmsg.Type = unix.UDP_SEGMENT
	cmsg.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], uint16(size))
	h := &sc.hdr
	*h = unix.Msghdr{Name: &sc.sa[0], Namelen: salen, Iov: &sc.iovs[0], Control: &oob[0]}
	h.SetIovlen(len(segs))
	h.SetControllen(len(oob))
	return true
}

// release drops the references into the caller's n buffers.
func (sc *SegmentScratch) release(n int) { clear(sc.iovs[:n]) }

// sendSegmentsMsg runs sendmsg on a prepared header and maps its errors.
func (s *Socket) sendSegmentsMsg(h *unix.Msghdr) error {
	if !s.acquire() {
		return ErrClosed
	}
	defer s.release()
	errno := s.sendCall(unix.SYS_SENDMSG, unsafe.Pointer(h), unix.MSG_DONTWAIT, 0, nil, 0)
	if refusedForGood(errno) {
		s.noSegments.Store(true)
	}
	return segmentsError(errno)
}

// segmentsError maps the errno of a segmented sendmsg to SendSegments'
// errors.
func segmentsError(errno unix.Errno) error {
	switch errno {
	case 0:
		return nil
	case unix.EAGAIN:
		return ErrWouldBlock
	case unix.EIO, unix.ENOPROTOOPT, unix.EOPNOTSUPP, unix.EINVAL, unix.EMSGSIZE:
		return ErrSegmentsRefused
	default:
		return errno
	}
}

// refusedForGood reports a refusal to segment that every later send from
// the socket would meet too: no segmentation on its route or in the kernel.
func refusedForGood(errno unix.Errno) bool {
	return errno == unix.EIO || errno == unix.ENOPROTOOPT || errno == unix.EOPNOTSUPP
}

// Segmentable reports whether SendSegments accepts segs: 2 to MaxSegments
// non-empty datagrams, all as long as the first but a shorter last one, at
// most MaxSegmentsBytes in all. Only such a run is cut by the kernel back
// into exactly these datagrams.
func Segmentable(segs [][]byte) bool {
	_, ok := segmentSize(segs)
	return ok
}

// segmentSize checks SendSegments' shape rules and returns the segment size.
func segmentSize(segs [][]byte) (int, bool) {
	if len(segs) < 2 || len(segs) > MaxSegments {
		return 0, false
	}
	size := len(segs[0])
	if size == 0 {
		return 0, false
	}
	total := 0
	for i, seg := range segs {
		n := len(seg)
		if n == 0 || n > size || (n < size && i != len(segs)-1) {
			return 0, false
		}
		total += n
	}
	return size, total <= MaxSegmentsBytes
}
