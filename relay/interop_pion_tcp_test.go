package relay

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

// TestPionClientTCPAllocation runs pion/turn/v3's RFC 6062 client against
// the relay over TCP and over TLS: AllocateTCP, a connection to a peer
// (CreatePermission, Connect, ConnectionBind on a second connection) with
// bytes both ways, and a peer's connection to the relayed address accepted
// through a ConnectionAttempt. pion dials plain TCP data connections
// itself; over TLS the test dials them and hands them to DialTCPWithConn
// and AcceptTCPWithConn.
func TestPionClientTCPAllocation(t *testing.T) {
	for _, transport := range streamTransports {
		t.Run(transport, func(t *testing.T) { pionTCPAllocation(t, transport) })
	}
}

func pionTCPAllocation(t *testing.T, transport string) {
	srv := newTestServer(t, withTCPRelay)
	client := listeningPionClient(t, serverAddrFor(srv, transport), dialPion(t, srv, transport), "pion-tcp-alloc")
	alloc, err := client.AllocateTCP()
	if err != nil {
		t.Fatalf("AllocateTCP: %v", err)
	}
	defer alloc.Close()

	// Dial a peer: an echo server on loopback.
	peerL := tcpPeer(t)
	go func() {
		c, err := peerL.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	dc, err := alloc.DialTCPWithConn(pionDataConn(t, srv, transport), "tcp", net.TCPAddrFromAddrPort(addrOf(peerL)))
	if err != nil {
		t.Fatalf("pion's Connect and ConnectionBind: %v", err)
	}
	defer dc.Close()
	dc.Write([]byte("ping through the relay"))
	readExactly(t, dc, dc, "ping through the relay")

	// Accept a peer: it connects to the relayed address (pion's Dial
	// installed the permission for 127.0.0.1), pion hears the
	// ConnectionAttempt and binds it.
	relayed := alloc.Addr().(*net.TCPAddr)
	peer, err := net.DialTCP("tcp", nil, relayed)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	peer.Write([]byte("hello from the peer"))
	alloc.SetDeadline(time.Now().Add(5 * time.Second))
	var ac net.Conn
	if transport == "tls" {
		ac, err = alloc.AcceptTCPWithConn(pionDataConn(t, srv, transport))
	} else {
		ac, err = alloc.AcceptTCP()
	}
	if err != nil {
		t.Fatalf("pion's accept: %v", err)
	}
	defer ac.Close()
	readExactly(t, ac, ac, "hello from the peer")
	ac.Write([]byte("hello back"))
	readExactly(t, peer, peer, "hello back")
}

// pionDataConn dials a data connection to the relay for pion's
// DialTCPWithConn and AcceptTCPWithConn, which need its TCP socket methods
// (transport.TCPConn).
func pionDataConn(t *testing.T, srv *testServer, transport string) net.Conn {
	t.Helper()
	sock, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(srv.tcp))
	if transport == "tls" {
		sock, err = net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(srv.tls))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close() })
	if transport != "tls" {
		return sock
	}
	c := tls.Client(sock, &tls.Config{RootCAs: srv.certPool, ServerName: "127.0.0.1"})
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	return tlsTCPConn{Conn: c, sock: sock}
}

// tlsTCPConn is a TLS connection with the socket methods pion asserts on a
// data connection: bytes go through TLS, socket options to the TCP socket
// underneath.
type tlsTCPConn struct {
	*tls.Conn
	sock *net.TCPConn
}

func (c tlsTCPConn) CloseRead() error { return c.sock.CloseRead() }
func (c tlsTCPConn) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}
func (c tlsTCPConn) SetLinger(sec int) error                  { return c.sock.SetLinger(sec) }
func (c tlsTCPConn) SetKeepAlive(on bool) error               { return c.sock.SetKeepAlive(on) }
func (c tlsTCPConn) SetKeepAlivePeriod(d time.Duration) error { return c.sock.SetKeepAlivePeriod(d) }
func (c tlsTCPConn) SetNoDelay(on bool) error                 { return c.sock.SetNoDelay(on) }
func (c tlsTCPConn) SetWriteBuffer(n int) error               { return c.sock.SetWriteBuffer(n) }
func (c tlsTCPConn) SetReadBuffer(n int) error                { return c.sock.SetReadBuffer(n) }
