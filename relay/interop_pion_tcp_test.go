package relay

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v3"
)

// TestPionClientTCPAllocation runs pion/turn/v3's RFC 6062 client against
// the relay over TCP: AllocateTCP, a connection to a peer (CreatePermission,
// Connect, ConnectionBind on a second connection) with bytes both ways, and
// a peer's connection to the relayed address accepted through a
// ConnectionAttempt. pion v3.0.3 binds data connections over plain TCP
// only (its DialTCPWithConn and AcceptTCPWithConn need a *net.TCPConn), so
// TLS is covered by TestTCPRelayConnectBindAndRelay instead.
func TestPionClientTCPAllocation(t *testing.T) {
	srv := newTestServer(t, withTCPRelay)
	user, pass := restCredentials("pion-tcp-alloc")
	client, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: srv.tcp.String(),
		Conn:           dialPion(t, srv, "tcp"),
		Username:       user,
		Password:       pass,
		Realm:          testRealm,
		LoggerFactory:  logging.NewDefaultLoggerFactory(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
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
	data, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(srv.tcp))
	if err != nil {
		t.Fatal(err)
	}
	dc, err := alloc.DialTCPWithConn(data, "tcp", net.TCPAddrFromAddrPort(addrOf(peerL)))
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
	ac, err := alloc.AcceptTCP()
	if err != nil {
		t.Fatalf("pion's accept: %v", err)
	}
	defer ac.Close()
	readExactly(t, ac, ac, "hello from the peer")
	ac.Write([]byte("hello back"))
	readExactly(t, peer, peer, "hello back")
}
