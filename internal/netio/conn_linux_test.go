package netio

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// connPair is a connected client and an unconnected server, both owned by
// Go's net package, each with a Conn and a Batch.
type connPair struct {
	cli, srv         *net.UDPConn
	client, server   *Conn
	clientB, serverB *Batch
	clientAddr       netip.AddrPort
}

func newConnPair(t testing.TB, addr netip.AddrPort) *connPair {
	t.Helper()
	srv, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cli, err := net.DialUDP("udp", nil, srv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	deadline := time.Now().Add(waitTimeout)
	srv.SetReadDeadline(deadline)
	cli.SetReadDeadline(deadline)
	p := &connPair{
		cli:        cli,
		srv:        srv,
		client:     newConn(t, cli),
		server:     newConn(t, srv),
		clientB:    newBatch(t, 8, 2048, 0),
		serverB:    newBatch(t, 8, 2048, 0),
		clientAddr: cli.LocalAddr().(*net.UDPAddr).AddrPort(),
	}
	return p
}

func newConn(t testing.TB, uc *net.UDPConn) *Conn {
	t.Helper()
	c, err := NewConn(uc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// recvAll receives on c until want datagrams arrived and returns them.
func recvAll(t testing.TB, c *Conn, b *Batch, want int) (data []string, from []netip.AddrPort) {
	t.Helper()
	for len(data) < want {
		n, err := c.RecvBatch(b)
		if err != nil {
			t.Fatalf("after %d of %d datagrams: %v", len(data), want, err)
		}
		for i := range n {
			data = append(data, string(b.Data(i)))
			from = append(from, b.Addr(i))
		}
	}
	return data, from
}

// TestConnRoundTrip: a connected Conn sends a batch, one datagram and a
// segmented run without destinations, all reaching the server as separate
// datagrams from the client; the server sends its batch back to the
// sources it received, and the client receives it.
func TestConnRoundTrip(t *testing.T) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			p := newConnPair(t, fam.addr)
			for i, s := range []string{"one", "two", "three"} {
				copy(p.clientB.Buffer(i), s)
				if err := p.clientB.SetData(i, 0, len(s)); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := p.client.SendBatch(p.clientB, 3); n != 3 || err != nil {
				t.Fatalf("client SendBatch = %d, %v", n, err)
			}
			var scratch Scratch
			if err := p.client.SendTo([]byte("four"), netip.AddrPort{}, &scratch); err != nil {
				t.Fatalf("client SendTo: %v", err)
			}
			var sc SegmentScratch
			if err := p.client.SendSegments(segmentsOf(3, 50, 20), netip.AddrPort{}, &sc); err != nil {
				t.Fatalf("client SendSegments: %v", err)
			}
			data, from := recvAll(t, p.server, p.serverB, 7)
			want := []string{"one", "two", "three", "four"}
			for _, s := range segmentsOf(3, 50, 20) {
				want = append(want, string(s))
			}
			for i := range want {
				if data[i] != want[i] || from[i] != p.clientAddr {
					t.Fatalf("server datagram %d: %q from %v, want %q from %v", i, data[i], from[i], want[i], p.clientAddr)
				}
			}
			// The server sends a datagram back to the source it came from.
			copy(p.clientB.Buffer(0), "ping")
			p.clientB.SetData(0, 0, 4)
			if _, err := p.client.SendBatch(p.clientB, 1); err != nil {
				t.Fatal(err)
			}
			if n, err := p.server.RecvBatch(p.serverB); n != 1 || err != nil {
				t.Fatalf("server RecvBatch = %d, %v", n, err)
			}
			if n, err := p.server.SendBatch(p.serverB, 1); n != 1 || err != nil {
				t.Fatalf("server SendBatch = %d, %v", n, err)
			}
			if back, _ := recvAll(t, p.client, p.clientB, 1); back[0] != "ping" {
				t.Fatalf("client received %q back, want ping", back[0])
			}
		})
	}
}

// TestConnRecvWaitsForDeadline: with nothing queued RecvBatch waits in Go's
// poller and ends with the read deadline.
func TestConnRecvWaitsForDeadline(t *testing.T) {
	p := newConnPair(t, any4)
	start := time.Now()
	p.cli.SetReadDeadline(start.Add(50 * time.Millisecond))
	n, err := p.client.RecvBatch(p.clientB)
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("RecvBatch = %d, %v; want the deadline", n, err)
	}
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Fatalf("RecvBatch returned after %v, before the deadline", waited)
	}
}

// TestConnConnectedReportsRefused: on a connected socket an ICMP port
// unreachable for a sent datagram comes back from the next receive.
func TestConnConnectedReportsRefused(t *testing.T) {
	to := closedPort(t, any4)
	uc, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	uc.SetReadDeadline(time.Now().Add(waitTimeout))
	c := newConn(t, uc)
	var scratch Scratch
	if err := c.SendTo([]byte("anyone?"), netip.AddrPort{}, &scratch); err != nil {
		t.Fatal(err)
	}
	_, err = c.RecvBatch(newBatch(t, 1, 64, 0))
	if !errors.Is(err, unix.ECONNREFUSED) {
		t.Fatalf("RecvBatch after a send to a closed port: %v, want ECONNREFUSED", err)
	}
}

// TestConnUnconnectedChecksFamily: an unconnected IPv4 socket refuses an
// IPv6 destination, as a Socket does.
func TestConnUnconnectedChecksFamily(t *testing.T) {
	p := newConnPair(t, any4)
	p.serverB.SetAddr(0, netip.MustParseAddrPort("[::1]:9"))
	if err := p.serverB.SetData(0, 0, 1); err != nil {
		t.Fatal(err)
	}
	if n, err := p.server.SendBatch(p.serverB, 1); n != 0 || !errors.Is(err, ErrAddressFamily) {
		t.Fatalf("SendBatch = %d, %v; want ErrAddressFamily", n, err)
	}
	var scratch Scratch
	if err := p.server.SendTo([]byte("x"), netip.MustParseAddrPort("[::1]:9"), &scratch); !errors.Is(err, ErrAddressFamily) {
		t.Fatalf("SendTo = %v; want ErrAddressFamily", err)
	}
}

// TestConnDoesNotAllocate: a batch, a datagram and a segmented run each way
// through Conns cost no allocation.
func TestConnDoesNotAllocate(t *testing.T) {
	p := newConnPair(t, any4)
	segs := segmentsOf(4, 100, 40)
	single := []byte("single")
	var scratch Scratch
	var sc SegmentScratch
	for i := range 4 {
		if err := p.clientB.SetData(i, 0, 100); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := p.client.SendBatch(p.clientB, 4); err != nil {
			t.Fatal(err)
		}
		if err := p.client.SendTo(single, netip.AddrPort{}, &scratch); err != nil {
			t.Fatal(err)
		}
		if err := p.client.SendSegments(segs, netip.AddrPort{}, &sc); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < 9; {
			n, err := p.server.RecvBatch(p.serverB)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
		if _, err := p.server.SendBatch(p.serverB, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := p.client.RecvBatch(p.clientB); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per round", allocs)
	}
}
