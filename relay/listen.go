package relay

import (
	"fmt"
	"net/netip"

	"github.com/turnstile-relay/turnstile/internal/netio"
)

// listenUDP binds every UDP listen address once per worker with SO_REUSEPORT,
// so the kernel spreads clients over the loops by their 4-tuple and each
// client's datagrams stay in order on one loop.
func (s *Server) listenUDP() error {
	for _, ap := range s.cfg.UDPListen {
		addr := netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		for _, w := range s.workers {
			// GRO: a burst of one client's datagrams (a video frame's
			// packets, a load generator's window) is received as one
			// message, cut in serveListener.
			sock, err := s.cfg.Network.ListenUDP(addr, netio.Options{ReusePort: true, GRO: !s.cfg.NoUDPOffload, RecvBuffer: s.cfg.ListenerBuffer, SendBuffer: s.cfg.ListenerBuffer})
			if err != nil {
				return fmt.Errorf("relay: listen udp %s: %w", addr, err)
			}
			// Port 0 (tests): the first socket picks the port, the others join it.
			addr = sock.LocalAddr()
			s.listenerOwner[sock] = w
			if err := w.addListener(sock); err != nil {
				sock.Close()
				return fmt.Errorf("relay: poll udp %s: %w", addr, err)
			}
		}
		s.udp = append(s.udp, addr)
	}
	return nil
}
