package netio

import (
	"errors"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// ErrWouldBlock is returned when the kernel answers EAGAIN: nothing is queued
// for a receive or an error-queue read, or the socket's send buffer is full.
// It is unix.EAGAIN itself, so errors.Is(err, unix.EAGAIN) also matches. On a
// send the caller counts a drop; nothing in this package ever waits.
var ErrWouldBlock error = unix.EAGAIN

// ErrClosed is returned by calls on a Socket or Poller after Close has begun.
// It is net.ErrClosed, so callers may test for either.
var ErrClosed = net.ErrClosed

// ErrAddressFamily is returned by sends whose destination is not an address
// of the socket's family (IPv4 for an IPv4 socket; IPv6 and not IPv4-mapped
// for an IPv6 socket, which is IPV6_V6ONLY) or is not a valid address.
var ErrAddressFamily = errors.New("netio: destination address does not match the socket's family")

// ErrBounds is returned by Batch.SetData when the data range does not lie
// within the message's buffer, and by SendBatch when n is out of range.
var ErrBounds = errors.New("netio: range outside the batch")

// ErrConcurrentWait is returned by Poller.Wait when another goroutine is
// already waiting on the same Poller.
var ErrConcurrentWait = errors.New("netio: Poller.Wait called concurrently")

// ErrNotRegistered is returned by Poller.Remove for a socket that is not
// registered with that Poller.
var ErrNotRegistered = errors.New("netio: socket not registered with this poller")

// ErrAlreadyRegistered is returned by Poller.Add for a socket that is already
// registered with a Poller that is still open. A socket belongs to at most
// one Poller at a time.
var ErrAlreadyRegistered = errors.New("netio: socket already registered with a poller")

// PendingError is an asynchronous socket error that the kernel reported in
// place of data: with IP_RECVERR or IPV6_RECVERR, an ICMP error (or a local
// error) received for an earlier datagram marks the socket with a pending
// error, and the next receive returns it once, with no data, and clears it.
// Errno is what the kernel reported, e.g. ECONNREFUSED for ICMP port
// unreachable. The details (peer, type, code, MTU) are in the error queue:
// drain it with ReadErrQueue and call the receive again; the queued data is
// still there.
//
// Only RecvBatch returns PendingError, and only on sockets with RecvErr: the
// kernel does not mark unconnected UDP sockets with ICMP errors otherwise.
// PendingError is comparable, and converting it to error does not allocate
// (Go stores single-word values below 256 without allocating, and every
// Linux errno is below 256).
type PendingError struct {
	Errno unix.Errno
}

func (e PendingError) Error() string {
	return "netio: pending socket error: " + e.Errno.Error()
}

// Unwrap returns the errno, so errors.Is(err, unix.ECONNREFUSED) matches.
func (e PendingError) Unwrap() error { return e.Errno }

// isCallerBug reports errnos that mean the descriptor or the arguments were
// wrong, as opposed to an error about the network.
func isCallerBug(errno unix.Errno) bool {
	switch errno {
	case unix.EBADF, unix.EFAULT, unix.EINVAL, unix.ENOTSOCK:
		return true
	}
	return false
}

// recvError classifies an errno from a data receive: argument errors are
// returned as *os.SyscallError, anything else is an asynchronous error that
// the socket had pending.
func recvError(syscall string, errno unix.Errno) error {
	if isCallerBug(errno) {
		return os.NewSyscallError(syscall, errno)
	}
	return PendingError{Errno: errno}
}
