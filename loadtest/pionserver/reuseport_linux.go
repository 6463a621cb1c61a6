package pionserver

import (
	"context"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// listenUDPShared opens a UDP socket on addr with SO_REUSEPORT set, so that
// several sockets can share one address and the kernel spreads clients over
// them by a hash of their 5-tuple (socket(7)), as turnstile's and coturn's
// listeners do, one per relay thread.
func listenUDPShared(addr string) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	return lc.ListenPacket(context.Background(), "udp", addr)
}
