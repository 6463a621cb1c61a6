package netio

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// RecvBatch receives up to b.Len() queued datagrams with one recvmmsg call
// (MSG_DONTWAIT) and returns how many it stored in messages [0, n). For each,
// Data(i) is the datagram at offset Headroom(), Addr(i) its source (IPv4,
// IPv6 or unmapped IPv4-mapped) and Truncated(i) whether it was cut to
// Size() bytes. It never blocks and never allocates.
//
// Errors, always with n == 0:
//   - ErrWouldBlock: nothing is queued.
//   - ErrClosed: Close has begun.
//   - PendingError: the socket had an asynchronous error pending (with
//     RecvErr, an ICMP error for an earlier send, e.g. ECONNREFUSED for
//     port unreachable). The kernel returns it once in place of data and
//     clears it; queued datagrams stay queued. The caller drains the error
//     queue with ReadErrQueue (which holds the details) and calls RecvBatch
//     again. Because the error is cleared by being returned, a pending
//     error can delay a receive by one call but cannot stall it.
//   - *os.SyscallError: a bad descriptor or argument (a bug, not traffic).
//
// When recvmmsg hits an error after storing some datagrams, the kernel
// returns those and keeps the error pending for the next call.
func (s *Socket) RecvBatch(b *Batch) (int, error) {
	if !s.acquire() {
		return 0, ErrClosed
	}
	defer s.release()
	switch n, errno := recvBatchOn(uintptr(s.fd), b); errno {
	case 0:
		return n, nil
	case unix.EAGAIN:
		return 0, ErrWouldBlock
	default:
		return 0, recvError("recvmmsg", errno)
	}
}

// recvBatchOn is one non-blocking recvmmsg into b on fd, retried on EINTR.
// It returns EAGAIN when nothing is queued.
func recvBatchOn(fd uintptr, b *Batch) (int, unix.Errno) {
	b.prepareRecv()
	for {
		r, errno := rawCall(unix.SYS_RECVMMSG, fd,
			unsafe.Pointer(&b.hdrs[0]), uintptr(len(b.hdrs)),
			unix.MSG_DONTWAIT, nil, 0)
		switch errno {
		case 0:
			n := int(r)
			if n <= 0 || n > len(b.hdrs) {
				return 0, unix.EAGAIN
			}
			b.finishRecv(n)
			return n, 0
		case unix.EINTR:
			continue
		}
		return 0, errno
	}
}

// SendBatch sends messages [0, n) of b, each the range set by SetData to the
// address set by SetAddr, with as few sendmmsg calls (MSG_DONTWAIT) as the
// kernel allows. It returns how many messages, counted from the front, were
// handed to the kernel; on an error, message n' (the returned count) is the
// one that failed and later messages were not tried. It never blocks and
// never allocates.
//
// Errors:
//   - ErrWouldBlock: the send buffer is full; the caller counts the unsent
//     messages as drops.
//   - ErrAddressFamily: message n' has a destination of the wrong family.
//   - ErrClosed, or ErrBounds when n is outside [0, b.Len()].
//   - a unix.Errno from the kernel about message n', e.g. EMSGSIZE when
//     DontFragment is set and the datagram exceeds the path MTU.
//
// A send can also fail with an asynchronous error pending from an earlier
// datagram's ICMP error (the kernel checks it before sending, and clears it).
// Such a failure says nothing about this message, so SendBatch retries a
// failed message once before reporting the error; with RecvErr the original
// error stays readable from the error queue. A message that fails on its own
// account (EMSGSIZE under DontFragment) is therefore tried twice, and with
// RecvErr queues two identical local errors.
func (s *Socket) SendBatch(b *Batch, n int) (int, error) {
	if n < 0 || n > len(b.msgs) {
		return 0, ErrBounds
	}
	if n == 0 {
		return 0, nil
	}
	if !s.acquire() {
		return 0, ErrClosed
	}
	defer s.release()
	limit := b.prepareSend(n, s.family, false)
	sent, errno := sendBatchOn(uintptr(s.fd), b, 0, limit)
	switch {
	case errno == unix.EAGAIN:
		return sent, ErrWouldBlock
	case errno != 0:
		return sent, errno
	case limit < n:
		return limit, ErrAddressFamily
	}
	return n, nil
}

// sendBatchOn sends the prepared messages [sent, limit) of b on fd with
// non-blocking sendmmsg calls and returns how many of the batch, counted
// from the front, are sent: all of them, or fewer with the errno of the
// first that failed (EAGAIN: the send buffer is full). A failed message is
// retried once, as SendBatch explains.
func sendBatchOn(fd uintptr, b *Batch, sent, limit int) (int, unix.Errno) {
	retried := false
	for sent < limit {
		r, errno := rawCall(unix.SYS_SENDMMSG, fd,
			unsafe.Pointer(&b.hdrs[sent]), uintptr(limit-sent),
			unix.MSG_DONTWAIT, nil, 0)
		switch errno {
		case 0:
			if r == 0 || int(r) > limit-sent {
				return sent, unix.EAGAIN
			}
			sent += int(r)
			retried = false
			continue
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return sent, errno
		}
		if !retried {
			retried = true
			continue
		}
		return sent, errno
	}
	return sent, 0
}

// Scratch holds the sockaddr that SendTo encodes the destination into, so a
// single send allocates nothing. A Scratch belongs to one goroutine: it must
// not be used by two SendTo calls at the same time. Its zero value is ready.
type Scratch struct {
	sa sockaddrBytes
}

// SendTo sends p as one datagram to to with sendto(MSG_DONTWAIT), using
// scratch for the destination's sockaddr. p may be empty (a zero-length
// datagram). It never blocks and never allocates. Errors are those of
// SendBatch for one message: ErrWouldBlock (count a drop), ErrAddressFamily,
// ErrClosed, or a unix.Errno about this datagram; like SendBatch it retries
// once a send that failed, because the failure may be an error left pending
// by an earlier datagram (so an oversized datagram under DontFragment with
// RecvErr queues two local errors).
func (s *Socket) SendTo(p []byte, to netip.AddrPort, scratch *Scratch) error {
	salen := encodeSockaddr(&scratch.sa, to, s.family)
	if salen == 0 {
		return ErrAddressFamily
	}
	if !s.acquire() {
		return ErrClosed
	}
	defer s.release()
	switch errno := s.sendCall(unix.SYS_SENDTO,
		unsafe.Pointer(unsafe.SliceData(p)), uintptr(len(p)),
		unix.MSG_DONTWAIT, unsafe.Pointer(&scratch.sa[0]), uintptr(salen)); errno {
	case 0:
		return nil
	case unix.EAGAIN:
		return ErrWouldBlock
	default:
		return errno
	}
}

// sendCall makes a non-blocking send system call on the socket (the
// descriptor is the first argument) as sendCallOn does. The caller holds a
// reference (acquire).
func (s *Socket) sendCall(trap uintptr, p2 unsafe.Pointer, a3, a4 uintptr, p5 unsafe.Pointer, a6 uintptr) unix.Errno {
	return sendCallOn(trap, uintptr(s.fd), p2, a3, a4, p5, a6)
}

// sendCallOn makes a non-blocking send system call on fd, retrying on
// EINTR, and once more after any other failure but EAGAIN: the failure may
// be an error left pending by an earlier datagram's ICMP error, which the
// kernel reports (and clears) before sending.
func sendCallOn(trap, fd uintptr, p2 unsafe.Pointer, a3, a4 uintptr, p5 unsafe.Pointer, a6 uintptr) unix.Errno {
	retried := false
	for {
		_, errno := rawCall(trap, fd, p2, a3, a4, p5, a6)
		switch {
		case errno == unix.EINTR:
			continue
		case errno == 0, errno == unix.EAGAIN, retried:
			return errno
		}
		retried = true
	}
}
