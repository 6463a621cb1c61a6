package netio

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Limits of NewBatch's arguments.
const (
	// MaxBatch is the largest number of messages in a Batch: the kernel
	// caps one recvmmsg or sendmmsg call at UIO_MAXIOV (1024) messages.
	MaxBatch = 1024
	// MaxDatagram is the largest receive size: an IPv4 or IPv6 packet
	// (without jumbograms) never carries a UDP payload of 65536 bytes.
	MaxDatagram = 65535
	// MaxHeadroom bounds the headroom of a Batch.
	MaxHeadroom = 65535
	// PadRoom is the number of spare bytes after each message's receive
	// area, so a caller can pad a STUN attribute (DATA) holding a
	// full-size payload to a multiple of 4 bytes in place (RFC 8489 §14).
	PadRoom = 3
	// MaxTailroom bounds the tailroom of a Batch.
	MaxTailroom = 65535
)

// mmsghdr is struct mmsghdr from include/linux/socket.h: a msghdr followed by
// the number of bytes received or sent for that message. Go lays the struct
// out as C does, padding it to the alignment of unix.Msghdr (64 bytes on
// 64-bit platforms, 32 on 32-bit ones); a test checks the size.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// message is the Go-side view of one slot of a Batch.
type message struct {
	buf       []byte // headroom + size + PadRoom bytes, capacity capped
	addr      netip.AddrPort
	start     int
	length    int
	truncated bool
	segment   int // UDP GRO segment size; 0: one datagram
}

// groCmsgSpace is the control buffer of one received message: room for
// the UDP_GRO control message (an int).
var groCmsgSpace = unix.CmsgSpace(4)

// Batch is a set of datagram buffers and the kernel structures that
// recvmmsg and sendmmsg fill, allocated once and reused. Each message has a
// buffer of Headroom() bytes reserved in front of a receive area of Size()
// bytes, followed by PadRoom bytes. A receive stores the datagram at offset
// Headroom(), so a header (ChannelData: 4 bytes, RFC 8656 §12.4; Data
// indication: up to 48 bytes, §11.4) can be written in front of it in place
// and the same message sent on with SetData and SetAddr.
//
// A Batch belongs to one goroutine at a time and is not safe for concurrent
// use. Message indexes i must lie in [0, Len()); other indexes panic.
type Batch struct {
	hdrs     []mmsghdr
	iovs     []unix.Iovec
	names    []sockaddrBytes
	control  []byte // groCmsgSpace bytes per message, for receives
	msgs     []message
	size     int
	headroom int
	// stale counts the leading messages whose kernel structures a receive
	// or a send changed since the last prepareRecv; the rest are still set
	// up for a receive, so a batch that mostly receives one datagram (a
	// relayed socket) resets one header, not all of them.
	stale int
}

// NewBatch allocates a Batch of n messages, each with a receive area of size
// bytes preceded by headroom bytes. n must be in [1, MaxBatch], size in
// [1, MaxDatagram] and headroom in [0, MaxHeadroom].
func NewBatch(n, size, headroom int) (*Batch, error) {
	return NewBatchTailroom(n, size, headroom, PadRoom)
}

// NewBatchTailroom is NewBatch with tailroom spare bytes after each receive
// area instead of PadRoom (at least PadRoom, at most MaxTailroom): room to
// spread out datagrams that UDP GRO coalesced, so each gets headroom of its
// own. Buffer(i) includes the tailroom.
func NewBatchTailroom(n, size, headroom, tailroom int) (*Batch, error) {
	if tailroom < PadRoom || tailroom > MaxTailroom {
		return nil, fmt.Errorf("netio: NewBatchTailroom tailroom must be between %d and %d bytes, got %d", PadRoom, MaxTailroom, tailroom)
	}
	if n < 1 || n > MaxBatch {
		return nil, fmt.Errorf("netio: NewBatch n must be between 1 and %d messages, got %d", MaxBatch, n)
	}
	if size < 1 || size > MaxDatagram {
		return nil, fmt.Errorf("netio: NewBatch size must be between 1 and %d bytes, got %d", MaxDatagram, size)
	}
	if headroom < 0 || headroom > MaxHeadroom {
		return nil, fmt.Errorf("netio: NewBatch headroom must be between 0 and %d bytes, got %d", MaxHeadroom, headroom)
	}
	stride := headroom + size + tailroom
	backing := make([]byte, n*stride)
	b := &Batch{
		hdrs:     make([]mmsghdr, n),
		iovs:     make([]unix.Iovec, n),
		names:    make([]sockaddrBytes, n),
		control:  make([]byte, n*groCmsgSpace),
		msgs:     make([]message, n),
		size:     size,
		headroom: headroom,
		stale:    n,
	}
	for i := range b.msgs {
		b.msgs[i].buf = backing[i*stride : (i+1)*stride : (i+1)*stride]
		b.msgs[i].start = headroom
		h := &b.hdrs[i].hdr
		h.Name = &b.names[i][0]
		h.Iov = &b.iovs[i]
		h.SetIovlen(1)
	}
	return b, nil
}

// Len returns the number of messages in the Batch.
func (b *Batch) Len() int { return len(b.msgs) }

// Size returns the receive area of each message in bytes: a datagram longer
// than this is truncated and reported by Truncated.
func (b *Batch) Size() int { return b.size }

// Headroom returns the bytes reserved in front of each received datagram.
func (b *Batch) Headroom() int { return b.headroom }

// Buffer returns message i's whole buffer: Headroom() bytes, the receive
// area of Size() bytes and the tailroom (PadRoom bytes unless the Batch was
// made by NewBatchTailroom). It aliases the Batch's memory.
func (b *Batch) Buffer(i int) []byte { return b.msgs[i].buf }

// Data returns message i's data: after RecvBatch, the received datagram
// (it starts at Headroom()); after SetData, the range that SendBatch sends.
// It aliases the Batch's memory and is valid until the next call that takes
// the Batch.
func (b *Batch) Data(i int) []byte {
	m := &b.msgs[i]
	return m.buf[m.start : m.start+m.length]
}

// Addr returns message i's address: after RecvBatch, the datagram's source;
// after SetAddr, the destination SendBatch uses. A source that the kernel
// did not report as an IPv4 or IPv6 sockaddr is the zero AddrPort.
func (b *Batch) Addr(i int) netip.AddrPort { return b.msgs[i].addr }

// SegmentSize returns, for message i as received by RecvBatch on a socket
// with Options.GRO, the length of each datagram the kernel coalesced into
// it: Data(i) then holds several datagrams from Addr(i) back to back, each
// SegmentSize(i) bytes long but the last, which may be shorter. It returns
// 0 when message i is one datagram.
func (b *Batch) SegmentSize(i int) int { return b.msgs[i].segment }

// Truncated reports whether message i, as received by RecvBatch, was longer
// than Size() (MSG_TRUNC): Data holds only its first Size() bytes and the
// caller must drop it.
func (b *Batch) Truncated(i int) bool { return b.msgs[i].truncated }

// SetData sets the range of message i's Buffer that SendBatch sends:
// length bytes starting at offset start. It returns ErrBounds, changing
// nothing, unless 0 <= start and 0 <= length and start+length <= len(Buffer(i)).
func (b *Batch) SetData(i, start, length int) error {
	m := &b.msgs[i]
	if start < 0 || length < 0 || start > len(m.buf) || length > len(m.buf)-start {
		return ErrBounds
	}
	m.start, m.length = start, length
	return nil
}

// SetReceived stores p as message i's received datagram from from, for a
// Conn other than Socket (netiotest's in-memory one): p is copied to
// Headroom(), cut to Size() bytes with Truncated set when longer, and
// segment is reported by SegmentSize (0 unless p holds several datagrams
// of segment bytes coalesced as GRO does, and less than len(p)).
func (b *Batch) SetReceived(i int, from netip.AddrPort, p []byte, segment int) {
	m := &b.msgs[i]
	m.addr = from
	m.start = b.headroom
	m.length = copy(m.buf[b.headroom:b.headroom+b.size], p)
	m.truncated = len(p) > b.size
	m.segment = 0
	if segment > 0 && segment < m.length {
		m.segment = segment
	}
}

// SetAddr sets the destination of message i for SendBatch.
func (b *Batch) SetAddr(i int, to netip.AddrPort) { b.msgs[i].addr = to }

// prepareRecv points every message at its receive area and resets the
// fields the kernel overwrites. recvmmsg writes back only the headers of the
// messages it filled, and a send only those it sent, so only the stale ones
// need it.
func (b *Batch) prepareRecv() {
	for i := range b.stale {
		m := &b.msgs[i]
		iov := &b.iovs[i]
		iov.Base = &m.buf[b.headroom]
		iov.SetLen(b.size)
		h := &b.hdrs[i]
		h.hdr.Namelen = uint32(len(b.names[i]))
		h.hdr.Control = &b.control[i*groCmsgSpace]
		h.hdr.SetControllen(groCmsgSpace)
		h.hdr.Flags = 0
		h.n = 0
	}
	b.stale = 0
}

// finishRecv decodes the first n messages after recvmmsg returned n.
func (b *Batch) finishRecv(n int) {
	b.stale = n
	for i := 0; i < n; i++ {
		m := &b.msgs[i]
		h := &b.hdrs[i]
		namelen := min(int(h.hdr.Namelen), len(b.names[i]))
		m.addr = decodeSockaddr(b.names[i][:namelen])
		m.start = b.headroom
		m.length = int(h.n)
		m.truncated = h.hdr.Flags&unix.MSG_TRUNC != 0
		if m.length > b.size {
			m.length = b.size
			m.truncated = true
		}
		m.segment = 0
		if cl := int(h.hdr.Controllen); cl > 0 {
			m.segment = groSegment(b.control[i*groCmsgSpace : i*groCmsgSpace+min(cl, groCmsgSpace)])
			if m.segment >= m.length {
				m.segment = 0
			}
		}
	}
}

// groSegment returns the segment size of a UDP_GRO control message in the
// control data c, or 0 when there is none or it is malformed.
func groSegment(c []byte) int {
	hdrLen := unix.CmsgLen(0)
	if len(c) < unix.CmsgLen(4) {
		return 0
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
	if h.Level != unix.SOL_UDP || h.Type != unix.UDP_GRO || int(h.Len) < unix.CmsgLen(4) {
		return 0
	}
	size := int(int32(binary.NativeEndian.Uint32(c[hdrLen:])))
	return max(size, 0)
}

// prepareSend points the first n messages at their data and encodes their
// destinations for a socket of the given family; for a connected socket it
// gives none, so each datagram goes to the socket's peer. It returns the
// index of the first message whose destination cannot be encoded, or n.
func (b *Batch) prepareSend(n, family int, connected bool) int {
	b.stale = max(b.stale, n)
	for i := 0; i < n; i++ {
		m := &b.msgs[i]
		var salen uint32
		if !connected {
			if salen = encodeSockaddr(&b.names[i], m.addr, family); salen == 0 {
				return i
			}
		}
		iov := &b.iovs[i]
		// buf is never empty (size >= 1), so &buf[start] is in range
		// whenever length > 0; an empty datagram points at buf[0].
		if m.length > 0 {
			iov.Base = &m.buf[m.start]
		} else {
			iov.Base = &m.buf[0]
		}
		iov.SetLen(m.length)
		h := &b.hdrs[i]
		h.hdr.Namelen = salen
		h.hdr.Control = nil
		h.hdr.SetControllen(0)
		h.hdr.Flags = 0
		h.n = 0
	}
	return n
}
