package netio

import (
	"net"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn does batch I/O on a UDP socket that Go's net package owns (a
// *net.UDPConn), for programs in which each goroutine waits on its own
// socket, such as the load generator. Its calls are those of Socket with
// the same Batch, Scratch and SegmentScratch, but where a Socket returns
// ErrWouldBlock a Conn waits in Go's poller, so a receive honours the
// socket's read deadline (the error is then os.ErrDeadlineExceeded), and
// a closed socket gives net.ErrClosed.
//
// On a connected socket (net.DialUDP) the calls ignore destinations: every
// datagram goes to the peer, which keeps the kernel's cached route, and an
// ICMP error for an earlier datagram comes back from a later receive as a
// PendingError (ECONNREFUSED when nothing listens). An IPv6 socket sends
// only to IPv6 destinations, as a Socket does.
//
// A Conn holds the arguments of the call in flight, so it belongs to one
// goroutine at a time; several Conns may share one net.UDPConn. After
// NewConn its calls do not allocate.
type Conn struct {
	rc        syscall.RawConn
	family    int
	connected bool
	// noSegments is set once the kernel said it cannot segment sends from
	// this socket.
	noSegments bool

	// The call in flight, read and written by the callbacks below. These
	// are method values made once, so that handing one to RawConn.Read or
	// Write does not allocate a closure per call.
	batch  *Batch
	done   int // messages received, or sent so far
	limit  int
	single sendArgs
	errno  unix.Errno
	recvF  func(fd uintptr) bool
	batchF func(fd uintptr) bool
	oneF   func(fd uintptr) bool
}

// sendArgs are the arguments after the descriptor of one send system call.
type sendArgs struct {
	trap   uintptr
	p2     unsafe.Pointer
	a3, a4 uintptr
	p5     unsafe.Pointer
	a6     uintptr
}

// NewConn prepares batch I/O on uc, which stays the owner of the socket:
// closing uc ends the Conn's calls.
func NewConn(uc *net.UDPConn) (*Conn, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var family int
	var domainErr error
	if err := rc.Control(func(fd uintptr) {
		family, domainErr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
	}); err != nil {
		return nil, err
	}
	if domainErr != nil {
		return nil, os.NewSyscallError("getsockopt", domainErr)
	}
	c := &Conn{rc: rc, family: family, connected: uc.RemoteAddr() != nil}
	c.recvF, c.batchF, c.oneF = c.recv, c.sendBatch, c.sendOne
	return c, nil
}

// RecvBatch is Socket.RecvBatch that waits until at least one datagram is
// queued or the read deadline passes.
func (c *Conn) RecvBatch(b *Batch) (int, error) {
	c.batch = b
	err := c.rc.Read(c.recvF)
	c.batch = nil
	if err != nil {
		return 0, err
	}
	if c.errno != 0 {
		return 0, recvError("recvmmsg", c.errno)
	}
	return c.done, nil
}

func (c *Conn) recv(fd uintptr) bool {
	c.done, c.errno = recvBatchOn(fd, c.batch)
	return c.errno != unix.EAGAIN
}

// SendBatch is Socket.SendBatch that waits while the send buffer is full
// instead of returning ErrWouldBlock.
func (c *Conn) SendBatch(b *Batch, n int) (int, error) {
	if n < 0 || n > len(b.msgs) {
		return 0, ErrBounds
	}
	if n == 0 {
		return 0, nil
	}
	c.batch, c.done, c.limit = b, 0, b.prepareSend(n, c.family, c.connected)
	err := c.rc.Write(c.batchF)
	c.batch = nil
	switch {
	case err != nil:
		return c.done, err
	case c.errno != 0:
		return c.done, c.errno
	case c.limit < n:
		return c.limit, ErrAddressFamily
	}
	return n, nil
}

func (c *Conn) sendBatch(fd uintptr) bool {
	c.done, c.errno = sendBatchOn(fd, c.batch, c.done, c.limit)
	return c.errno != unix.EAGAIN
}

// SendTo is Socket.SendTo that waits while the send buffer is full.
func (c *Conn) SendTo(p []byte, to netip.AddrPort, scratch *Scratch) error {
	args := sendArgs{trap: unix.SYS_SENDTO, p2: unsafe.Pointer(unsafe.SliceData(p)), a3: uintptr(len(p)), a4: unix.MSG_DONTWAIT}
	if !c.connected {
		salen := encodeSockaddr(&scratch.sa, to, c.family)
		if salen == 0 {
			return ErrAddressFamily
		}
		args.p5, args.a6 = unsafe.Pointer(&scratch.sa[0]), uintptr(salen)
	}
	if err := c.send(args); err != nil {
		return err
	}
	if c.errno != 0 {
		return c.errno
	}
	return nil
}

// SendSegments is Socket.SendSegments that waits while the send buffer is
// full.
func (c *Conn) SendSegments(segs [][]byte, to netip.AddrPort, sc *SegmentScratch) error {
	size, ok := segmentSize(segs)
	if !ok {
		return ErrBounds
	}
	if c.noSegments {
		return ErrSegmentsRefused
	}
	if !sc.prepare(segs, size, to, c.family, c.connected) {
		return ErrAddressFamily
	}
	err := c.send(sendArgs{trap: unix.SYS_SENDMSG, p2: unsafe.Pointer(&sc.hdr), a3: unix.MSG_DONTWAIT})
	sc.release(len(segs))
	if err != nil {
		return err
	}
	if refusedForGood(c.errno) {
		c.noSegments = true
	}
	return segmentsError(c.errno)
}

// send makes one send system call once the socket is writable; its errno
// is left in c.errno.
func (c *Conn) send(args sendArgs) error {
	c.single = args
	err := c.rc.Write(c.oneF)
	c.single = sendArgs{} // drop the references into the caller's memory
	return err
}

func (c *Conn) sendOne(fd uintptr) bool {
	a := &c.single
	c.errno = sendCallOn(a.trap, fd, a.p2, a.a3, a.a4, a.p5, a.a6)
	return c.errno != unix.EAGAIN
}
