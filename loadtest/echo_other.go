//go:build !linux

package loadtest

import (
	"net"
	"sync/atomic"
)

// echoServer echoes one datagram per system call.
type echoServer struct {
	c      *net.UDPConn
	buf    []byte
	echoed *atomic.Uint64
}

func newEchoServer(c *net.UDPConn, maxDatagram int, echoed *atomic.Uint64, gso bool) (*echoServer, error) {
	return &echoServer{c: c, buf: make([]byte, maxDatagram), echoed: echoed}, nil
}

func (e *echoServer) serve() {
	for {
		n, from, err := e.c.ReadFromUDPAddrPort(e.buf)
		if err != nil {
			if echoFatal(err) {
				return
			}
			continue
		}
		if _, err := e.c.WriteToUDPAddrPort(e.buf[:n], from); err != nil && echoFatal(err) {
			return
		}
		e.echoed.Store(e.echoed.Load() + 1)
	}
}
