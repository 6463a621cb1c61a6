package loadtest

import (
	"net"
	"sync/atomic"
)

// echoServer echoes datagrams in batches: one recvmmsg(2) fills up to
// echoBatch buffers with their source addresses, one sendmmsg(2) sends them
// back through the same headers. No allocation per packet.
type echoServer struct {
	b      *mmsgBatch
	echoed *atomic.Uint64
}

func newEchoServer(c *net.UDPConn, maxDatagram int, echoed *atomic.Uint64) (*echoServer, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &echoServer{b: newMmsgBatch(rc, echoBatch, maxDatagram, true), echoed: echoed}, nil
}

func (e *echoServer) serve() {
	for {
		n, err := e.b.recv()
		if err != nil {
			if echoFatal(err) {
				return
			}
			continue
		}
		for i := 0; i < n; i++ {
			// Send back exactly what arrived, to where it came from (the
			// name the kernel filled in).
			e.b.iovs[i].SetLen(int(e.b.hdrs[i].Len))
		}
		if err := e.b.send(n); err != nil && echoFatal(err) {
			return
		}
		e.echoed.Store(e.echoed.Load() + uint64(n))
	}
}
