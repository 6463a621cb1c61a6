package netio

import (
	"encoding/binary"
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sizeofSockExtendedErr is sizeof(struct sock_extended_err)
// (include/uapi/linux/errqueue.h): errno (4), origin, type, code, pad
// (1 each), info (4), data (4). A test checks it against unix.SockExtendedErr.
const sizeofSockExtendedErr = 16

// errQueueControlSize is the control buffer of an ErrQueueEntry. The kernel
// sends one IP_RECVERR or IPV6_RECVERR message: a cmsghdr, the
// sock_extended_err and the offender's sockaddr (at most sockaddr_in6), i.e.
// CMSG_SPACE(16+28) = 64 bytes on 64-bit platforms. Twice that leaves room
// for any other control message the kernel may add.
const errQueueControlSize = 128

// ErrQueueEntry is one entry of a socket's error queue, decoded by
// ReadErrQueue, together with the buffers the read uses. The exported fields
// are outputs, overwritten by every ReadErrQueue. An entry belongs to one
// goroutine at a time; its zero value is ready.
type ErrQueueEntry struct {
	// Origin says who reported the error: unix.SO_EE_ORIGIN_ICMP (an ICMPv4
	// message), SO_EE_ORIGIN_ICMP6 (ICMPv6) or SO_EE_ORIGIN_LOCAL (the
	// local stack, e.g. EMSGSIZE under DontFragment). SO_EE_ORIGIN_NONE
	// means the kernel attached no extended error; the entry then carries
	// nothing usable and the caller ignores it.
	Origin uint8
	// Type and Code are the ICMP or ICMPv6 type and code (0 for local
	// errors), e.g. 3/3 for ICMPv4 port unreachable, 1/4 for ICMPv6.
	Type, Code uint8
	// Info is ee_info: the next-hop MTU in bytes for ICMPv4 type 3 code 4
	// (fragmentation needed) and ICMPv6 type 2 (packet too big), and the
	// path MTU for a local EMSGSIZE; otherwise 0. RFC 8656 §11.5 relays it
	// as the ICMP attribute's Error Data.
	Info uint32
	// Errno is ee_errno, the error the kernel derived (ECONNREFUSED,
	// EHOSTUNREACH, EMSGSIZE, ...).
	Errno unix.Errno
	// Offender is the host or router that sent the ICMP message
	// (SO_EE_OFFENDER); the zero Addr for local errors.
	Offender netip.Addr
	// Destination is the destination IP and port of the datagram that
	// caused the error (the errqueue msg_name): the peer the relay sent to,
	// whose IP RFC 8656 §11.5 checks against the permissions. For ICMP
	// errors the port is the quoted UDP destination port. For IPv4 local
	// errors the kernel reports the socket's connected port, which is 0 for
	// the unconnected sockets of this package; IPv6 local errors carry the
	// datagram's port.
	Destination netip.AddrPort
	// ControlTruncated reports MSG_CTRUNC: the kernel had more control data
	// than fits; the fields above may be incomplete.
	ControlTruncated bool

	name    sockaddrBytes
	control [errQueueControlSize]byte
	hdr     unix.Msghdr
	soError int32
	soLen   uint32
}

// reset clears the outputs before a read.
func (e *ErrQueueEntry) reset() {
	e.Origin, e.Type, e.Code, e.Info, e.Errno = 0, 0, 0, 0, 0
	e.Offender, e.Destination, e.ControlTruncated = netip.Addr{}, netip.AddrPort{}, false
}

// ReadErrQueue reads one entry from the socket's error queue with
// recvmsg(MSG_ERRQUEUE|MSG_DONTWAIT) into e, using only e's buffers. It
// returns true when it read an entry, false with a nil error when the queue
// is empty. Call it until it returns false whenever Poller reports Error.
// It never blocks and never allocates.
//
// Reading the last queued ICMP error clears the socket's pending error. When
// the queue is already empty, ReadErrQueue also clears any pending error left
// behind (getsockopt SO_ERROR), for example one that recvmmsg saved after a
// partial batch; otherwise a level-triggered EPOLLERR would be reported
// again forever.
//
// Errors: ErrClosed after Close; an *os.SyscallError for a bad descriptor or
// argument.
func (s *Socket) ReadErrQueue(e *ErrQueueEntry) (bool, error) {
	if !s.acquire() {
		return false, ErrClosed
	}
	defer s.release()
	e.reset()
	e.hdr = unix.Msghdr{Name: &e.name[0], Namelen: uint32(len(e.name)), Control: &e.control[0]}
	e.hdr.SetControllen(len(e.control))
	for {
		_, _, errno := unix.Syscall(unix.SYS_RECVMSG, uintptr(s.fd),
			uintptr(unsafe.Pointer(&e.hdr)), unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		switch errno {
		case 0:
			e.decode()
			return true, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false, s.clearPendingError(e)
		}
		return false, os.NewSyscallError("recvmsg", errno)
	}
}

// clearPendingError reads and so clears SO_ERROR, using e for the buffers.
func (s *Socket) clearPendingError(e *ErrQueueEntry) error {
	e.soLen = uint32(unsafe.Sizeof(e.soError))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(s.fd),
		unix.SOL_SOCKET, unix.SO_ERROR,
		uintptr(unsafe.Pointer(&e.soError)), uintptr(unsafe.Pointer(&e.soLen)), 0)
	if errno != 0 {
		return os.NewSyscallError("getsockopt", errno)
	}
	return nil
}

// decode fills the outputs from the name and control buffers after a read.
func (e *ErrQueueEntry) decode() {
	namelen := min(int(e.hdr.Namelen), len(e.name))
	e.Destination = decodeSockaddr(e.name[:namelen])
	e.ControlTruncated = e.hdr.Flags&unix.MSG_CTRUNC != 0
	controllen := len(e.control)
	if uint64(e.hdr.Controllen) < uint64(controllen) {
		controllen = int(e.hdr.Controllen)
	}
	e.parseControl(e.control[:controllen])
}

// parseControl walks the control messages in b (CMSG_FIRSTHDR/CMSG_NXTHDR)
// and decodes the IP_RECVERR or IPV6_RECVERR one. Malformed lengths end the
// walk; nothing is read outside b.
func (e *ErrQueueEntry) parseControl(b []byte) {
	for len(b) >= unix.SizeofCmsghdr {
		length := cmsgLen(b)
		if length < unix.SizeofCmsghdr || length > uint64(len(b)) {
			return
		}
		level := int32(binary.NativeEndian.Uint32(b[unix.SizeofPtr:]))
		typ := int32(binary.NativeEndian.Uint32(b[unix.SizeofPtr+4:]))
		data := b[unix.SizeofCmsghdr:length]
		if (level == unix.IPPROTO_IP && typ == unix.IP_RECVERR) ||
			(level == unix.IPPROTO_IPV6 && typ == unix.IPV6_RECVERR) {
			e.parseExtendedErr(data)
			return
		}
		next := cmsgAlign(length)
		if next >= uint64(len(b)) {
			return
		}
		b = b[next:]
	}
}

// cmsgLen reads cmsg_len, a size_t at the start of b (len(b) >= SizeofPtr).
func cmsgLen(b []byte) uint64 {
	if unix.SizeofPtr == 8 {
		return binary.NativeEndian.Uint64(b)
	}
	return uint64(binary.NativeEndian.Uint32(b))
}

// cmsgAlign rounds n up to the alignment of control messages (CMSG_ALIGN).
func cmsgAlign(n uint64) uint64 {
	return (n + unix.SizeofPtr - 1) &^ (unix.SizeofPtr - 1)
}

// parseExtendedErr decodes a struct sock_extended_err followed by the
// offender's sockaddr (SO_EE_OFFENDER) from a control message's data.
func (e *ErrQueueEntry) parseExtendedErr(data []byte) {
	if len(data) < sizeofSockExtendedErr {
		return
	}
	e.Errno = unix.Errno(binary.NativeEndian.Uint32(data[0:4]))
	e.Origin = data[4]
	e.Type = data[5]
	e.Code = data[6]
	e.Info = binary.NativeEndian.Uint32(data[8:12])
	e.Offender = decodeSockaddr(data[sizeofSockExtendedErr:]).Addr()
}
