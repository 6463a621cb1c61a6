package relay

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// tcpListenBacklog is the kernel's queue of peer connections not yet
// accepted on one relayed TCP address.
const tcpListenBacklog = 16

// tcpListener is the relayed address of a TCP allocation (RFC 6062 §5.1):
// a non-blocking listening socket, polled by the relay's one acceptor.
type tcpListener struct {
	fd     int
	public netip.AddrPort
	local  netip.AddrPort
	sess   *session
	closed bool // guarded by the acceptor's mutex
}

// reuseSockopts lets a listening relayed socket and the sockets that
// connect out from the same address and port coexist (RFC 6062 §5.2: the
// outbound connection leaves from the relayed transport address).
func reuseSockopts(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return err
	}
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
}

// listenTCPRelay opens the listening socket of a TCP allocation at local.
func listenTCPRelay(local, public netip.AddrPort) (*tcpListener, error) {
	family := unix.AF_INET
	var sa unix.Sockaddr = &unix.SockaddrInet4{Port: int(local.Port()), Addr: local.Addr().Unmap().As4()}
	if local.Addr().Unmap().Is6() {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(local.Port()), Addr: local.Addr().As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err = reuseSockopts(fd); err == nil {
		if err = unix.Bind(fd, sa); err == nil {
			err = unix.Listen(fd, tcpListenBacklog)
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &tcpListener{fd: fd, local: local, public: public}, nil
}

// tcpAcceptor accepts peer connections on every relayed TCP address with
// one epoll instance and one goroutine, not one per allocation.
type tcpAcceptor struct {
	s    *Server
	epfd int
	wake int // eventfd that ends the loop
	mu   sync.Mutex
	byFD map[int32]*tcpListener
	once sync.Once
}

func newTCPAcceptor(s *Server) (*tcpAcceptor, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, err
	}
	return &tcpAcceptor{s: s, epfd: epfd, wake: wake, byFD: map[int32]*tcpListener{}}, nil
}

// add starts accepting on l, whose session is set.
func (a *tcpAcceptor) add(l *tcpListener) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if l.closed {
		return net.ErrClosed
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(l.fd)}
	if err := unix.EpollCtl(a.epfd, unix.EPOLL_CTL_ADD, l.fd, &ev); err != nil {
		return err
	}
	a.byFD[int32(l.fd)] = l
	return nil
}

// closeListener stops accepting on l and closes it; safe more than once
// and for a listener never added.
func (a *tcpAcceptor) closeListener(l *tcpListener) {
	if l == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	if a.byFD[int32(l.fd)] == l {
		delete(a.byFD, int32(l.fd))
		unix.EpollCtl(a.epfd, unix.EPOLL_CTL_DEL, l.fd, nil)
	}
	unix.Close(l.fd)
}

// stop ends the loop; run closes the epoll instance on its way out.
func (a *tcpAcceptor) stop() {
	a.once.Do(func() {
		var one [8]byte
		one[0] = 1
		unix.Write(a.wake, one[:])
	})
}

// run waits for listeners with pending connections and accepts them.
func (a *tcpAcceptor) run() {
	defer func() {
		unix.Close(a.epfd)
		unix.Close(a.wake)
	}()
	events := make([]unix.EpollEvent, 32)
	for {
		n, err := unix.EpollWait(a.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			a.s.log.Error("tcp relay acceptor stopped", "error", err.Error())
			return
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == a.wake {
				return
			}
			a.acceptAll(ev.Fd)
		}
	}
}

// acceptAll accepts what is queued on one listener, under the mutex so
// that the listener cannot be closed (and its descriptor reused) meanwhile.
func (a *tcpAcceptor) acceptAll(fd int32) {
	a.mu.Lock()
	l := a.byFD[fd]
	if l == nil {
		a.mu.Unlock()
		return
	}
	var accepted []*net.TCPConn
	for {
		nfd, _, err := unix.Accept4(l.fd, unix.SOCK_CLOEXEC)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ECONNABORTED) {
			continue
		}
		if err != nil {
			break
		}
		f := os.NewFile(uintptr(nfd), "tcp-peer")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			continue
		}
		accepted = append(accepted, c.(*net.TCPConn))
	}
	a.mu.Unlock()
	now := a.s.clock.Now()
	for _, c := range accepted {
		a.s.acceptPeer(l.sess, c, now)
	}
}

// peerAddrOf is a connection's remote address, unmapped.
func peerAddrOf(c *net.TCPConn) netip.AddrPort {
	return peerAddr(c.RemoteAddr().(*net.TCPAddr).AddrPort())
}

// acceptPeer hands a peer's new connection to the core (RFC 6062 §5.3):
// refused ones are closed at once, accepted ones wait for their
// ConnectionBind and the client hears of them in a ConnectionAttempt.
func (s *Server) acceptPeer(sess *session, c *net.TCPConn, now mono.Time) {
	pc := &peerConn{conn: c}
	id, ind, err := s.core.AcceptPeer(sess.alloc, peerAddrOf(c), pc, now)
	if err != nil {
		c.Close()
		s.tcpStats.outcome(tcpRefused)
		return
	}
	pc.id = id
	s.tcpStats.outcome(tcpAccepted)
	if st := sess.client.stream; st != nil && !st.enqueue(ind, true) {
		s.streamCounters.drop(DropStreamBackpressure)
	}
}

// closeUnpolled closes a listener no acceptor polls.
func closeUnpolled(l *tcpListener) {
	if !l.closed {
		l.closed = true
		unix.Close(l.fd)
	}
}
