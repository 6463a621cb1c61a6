package netio

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Options configures a socket made by ListenUDP. The zero value is a plain
// UDP socket with kernel defaults.
type Options struct {
	// ReusePort sets SO_REUSEPORT before bind, so several sockets (one per
	// loop goroutine) may share a listening port and the kernel spreads
	// flows among them.
	ReusePort bool
	// RecvErr sets IP_RECVERR (IPv4) or IPV6_RECVERR (IPv6): ICMP errors
	// and local send errors are queued on the socket's error queue for
	// ReadErrQueue (RFC 8656 §11.5; kernel ip(7) and ipv6(7)).
	RecvErr bool
	// DontFragment forbids fragmentation of outgoing datagrams: IPv4 sets
	// IP_MTU_DISCOVER to IP_PMTUDISC_DO (the DF bit is set and the kernel
	// never fragments locally), IPv6 sets IPV6_DONTFRAG. A send larger than
	// the path MTU then fails with EMSGSIZE (and, with RecvErr, queues a
	// local error carrying the MTU) instead of being fragmented.
	// When false, the kernel default applies: for IPv4 normally
	// IP_PMTUDISC_WANT (DF set, local fragmentation above the path MTU,
	// see net.ipv4.ip_no_pmtu_disc); for IPv6 fragmentation by the sender.
	DontFragment bool
	// RecvBuffer and SendBuffer set SO_RCVBUF and SO_SNDBUF, in bytes;
	// 0 keeps the kernel default. The kernel doubles the value for its
	// bookkeeping and caps it at net.core.rmem_max / wmem_max.
	RecvBuffer, SendBuffer int
	// GRO sets UDP_GRO (Linux 5.0): the kernel may hand several datagrams
	// of one flow to a receive as one message (coalesced by the NIC
	// driver's GRO, or sent as one GSO send on the same host), and
	// Batch.SegmentSize tells how to cut it. A kernel without UDP_GRO
	// ignores the option: every message is then one datagram.
	GRO bool
}

// validate rejects out-of-range settings, naming the field.
func (o Options) validate() error {
	if o.RecvBuffer < 0 || o.RecvBuffer > math.MaxInt32/2 {
		return fmt.Errorf("netio: Options.RecvBuffer must be between 0 and %d bytes, got %d", math.MaxInt32/2, o.RecvBuffer)
	}
	if o.SendBuffer < 0 || o.SendBuffer > math.MaxInt32/2 {
		return fmt.Errorf("netio: Options.SendBuffer must be between 0 and %d bytes, got %d", math.MaxInt32/2, o.SendBuffer)
	}
	return nil
}

// Socket is one non-blocking UDP socket (SOCK_NONBLOCK, SOCK_CLOEXEC).
// IPv6 sockets are IPV6_V6ONLY, so a socket carries exactly one family.
//
// All methods are safe for concurrent use. See the package documentation
// for how Close interacts with calls in flight and with a Poller.
type Socket struct {
	fd     int
	family int // unix.AF_INET or unix.AF_INET6
	local  netip.AddrPort
	ref    fdRef
	// noSegments is set once the kernel said it cannot segment sends from
	// this socket (SendSegments).
	noSegments atomic.Bool

	// mu guards closed and member. Lock order: Socket.mu before Poller.mu.
	mu     sync.Mutex
	closed bool
	member membership
}

// ListenUDP opens a UDP socket bound to addr with the given options.
//
// addr must be an IPv4 or IPv6 address (IPv4-mapped addresses are treated as
// IPv4; zones are rejected); the unspecified address binds all addresses of
// that family. Port 0 picks an ephemeral port; LocalAddr reports it. When a
// specific port is taken, the error satisfies errors.Is(err,
// unix.EADDRINUSE), so a caller may retry another port from its range.
func ListenUDP(addr netip.AddrPort, opts Options) (*Socket, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	ip := addr.Addr().Unmap()
	if !ip.IsValid() {
		return nil, fmt.Errorf("netio: ListenUDP address %v is not an IP address", addr)
	}
	if ip.Zone() != "" {
		return nil, fmt.Errorf("netio: ListenUDP address %v has a zone; zoned addresses are not supported", addr)
	}
	family := unix.AF_INET6
	if ip.Is4() {
		family = unix.AF_INET
	}
	fd, err := sysSocket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := configure(fd, family, opts); err != nil {
		sysClose(fd)
		return nil, err
	}
	var sa sockaddrBytes
	salen := encodeSockaddr(&sa, netip.AddrPortFrom(ip, addr.Port()), family)
	if err := sysBind(fd, &sa, salen); err != nil {
		sysClose(fd)
		return nil, fmt.Errorf("netio: bind %v: %w", netip.AddrPortFrom(ip, addr.Port()), err)
	}
	local, err := localAddr(fd)
	if err != nil {
		sysClose(fd)
		return nil, err
	}
	return &Socket{fd: fd, family: family, local: local}, nil
}

// configure applies the options that must be set before bind.
func configure(fd, family int, opts Options) error {
	type option struct {
		name       string
		level, opt int
		value      int
		wanted     bool
	}
	ipv6 := family == unix.AF_INET6
	options := []option{
		{name: "IPV6_V6ONLY", level: unix.IPPROTO_IPV6, opt: unix.IPV6_V6ONLY, value: 1, wanted: ipv6},
		{name: "SO_REUSEPORT", level: unix.SOL_SOCKET, opt: unix.SO_REUSEPORT, value: 1, wanted: opts.ReusePort},
		{name: "IP_RECVERR", level: unix.IPPROTO_IP, opt: unix.IP_RECVERR, value: 1, wanted: opts.RecvErr && !ipv6},
		{name: "IPV6_RECVERR", level: unix.IPPROTO_IPV6, opt: unix.IPV6_RECVERR, value: 1, wanted: opts.RecvErr && ipv6},
		{name: "IP_MTU_DISCOVER", level: unix.IPPROTO_IP, opt: unix.IP_MTU_DISCOVER, value: unix.IP_PMTUDISC_DO, wanted: opts.DontFragment && !ipv6},
		{name: "IPV6_DONTFRAG", level: unix.IPPROTO_IPV6, opt: unix.IPV6_DONTFRAG, value: 1, wanted: opts.DontFragment && ipv6},
		{name: "SO_RCVBUF", level: unix.SOL_SOCKET, opt: unix.SO_RCVBUF, value: opts.RecvBuffer, wanted: opts.RecvBuffer > 0},
		{name: "SO_SNDBUF", level: unix.SOL_SOCKET, opt: unix.SO_SNDBUF, value: opts.SendBuffer, wanted: opts.SendBuffer > 0},
	}
	for _, o := range options {
		if !o.wanted {
			continue
		}
		if err := sysSetsockoptInt(fd, o.level, o.opt, o.value); err != nil {
			return fmt.Errorf("netio: setsockopt %s=%d: %w", o.name, o.value, err)
		}
	}
	if opts.GRO {
		// Best effort: coalescing is an optimization, and a kernel that
		// lacks it delivers the same datagrams one by one.
		_ = sysSetsockoptInt(fd, unix.SOL_UDP, unix.UDP_GRO, 1)
	}
	return nil
}

// localAddr reads the bound address with getsockname.
func localAddr(fd int) (netip.AddrPort, error) {
	var sa sockaddrBytes
	salen, err := sysGetsockname(fd, &sa)
	if err != nil {
		return netip.AddrPort{}, os.NewSyscallError("getsockname", err)
	}
	local := decodeSockaddr(sa[:salen])
	if !local.IsValid() {
		return netip.AddrPort{}, fmt.Errorf("netio: getsockname returned family %d", binary.NativeEndian.Uint16(sa[:]))
	}
	return local, nil
}

// LocalAddr returns the address the socket is bound to, with the port the
// kernel chose when ListenUDP was given port 0.
func (s *Socket) LocalAddr() netip.AddrPort { return s.local }

// Fd returns the socket's file descriptor number, for logging and for
// socket options this package does not cover. The number is valid only until
// Close; the caller must not close it, and a call on it that races with
// Close may reach a newer file that reused the number. The methods of Socket
// never have that race.
func (s *Socket) Fd() int { return s.fd }

// Close unregisters the socket from its Poller, if any, and closes it.
// It is idempotent and safe to call concurrently with any other method: the
// registration is removed (EPOLL_CTL_DEL) while the descriptor is still
// open, later calls return ErrClosed, and the descriptor itself is closed as
// soon as the last call in flight returns — by Close when none is in flight,
// in which case Close returns close(2)'s error.
func (s *Socket) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var unregisterErr error
	if s.member.poller != nil {
		unregisterErr = s.member.poller.unregister(s)
		s.member = membership{}
	}
	s.mu.Unlock()
	if _, closeNow := s.ref.beginClose(); closeNow {
		if err := sysClose(s.fd); err != nil {
			return os.NewSyscallError("close", err)
		}
	}
	return unregisterErr
}

// acquire registers a call on the descriptor; false after Close.
func (s *Socket) acquire() bool { return s.ref.acquire() }

// release ends a call and closes the descriptor if Close is waiting for it.
func (s *Socket) release() {
	if s.ref.release() {
		sysClose(s.fd)
	}
}

// SetDontFragment turns Options.DontFragment on for a socket that is already
// bound (IP_MTU_DISCOVER=IP_PMTUDISC_DO or IPV6_DONTFRAG=1), for example a
// port that was reserved before anyone asked for DF. It returns ErrClosed
// after Close.
func (s *Socket) SetDontFragment() error {
	if !s.acquire() {
		return ErrClosed
	}
	defer s.release()
	level, opt, value, name := unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO, "IP_MTU_DISCOVER"
	if s.family == unix.AF_INET6 {
		level, opt, value, name = unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG, 1, "IPV6_DONTFRAG"
	}
	if err := sysSetsockoptInt(s.fd, level, opt, value); err != nil {
		return fmt.Errorf("netio: setsockopt %s=%d: %w", name, value, err)
	}
	return nil
}
