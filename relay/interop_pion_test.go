package relay

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v3"
)

// TestPionClientRelaysBothWays runs pion/turn/v3's client against the relay
// over UDP, TCP and TLS: it allocates, creates a permission, binds a channel
// (pion binds one on the first write to a peer) and relays datagrams to an
// echo peer and back. pion quietly keeps to Send indications when its
// ChannelBind fails, so the test counts the ChannelData on pion's socket:
// some must have gone out and come back.
func TestPionClientRelaysBothWays(t *testing.T) {
	srv := newTestServer(t)
	for _, transport := range []string{"udp", "tcp", "tls"} {
		t.Run(transport, func(t *testing.T) {
			conn := &channelDataCounter{PacketConn: dialPion(t, srv, transport)}
			client := listeningPionClient(t, serverAddrFor(srv, transport), conn, "pion-"+transport)
			relayConn, err := client.Allocate()
			if err != nil {
				t.Fatalf("allocate: %v", err)
			}
			defer relayConn.Close()
			peer := echoPeer(t, "udp4", "127.0.0.1:0")
			// Round trips until ChannelData went both ways a few times:
			// the first ones go as Send indications while pion binds its
			// channel in the background, later ones as ChannelData. A
			// relay that refuses the bind runs into the bound.
			buf := make([]byte, 1500)
			for i := 0; i < 20 || !conn.flowed(3) && i < 2000; i++ {
				msg := []byte(fmt.Sprintf("%s round trip %d", transport, i))
				if _, err := relayConn.WriteTo(msg, peer.LocalAddr()); err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
				relayConn.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, from, err := relayConn.ReadFrom(buf)
				if err != nil {
					t.Fatalf("read %d: %v", i, err)
				}
				if !bytes.Equal(buf[:n], msg) {
					t.Fatalf("round trip %d: got %q want %q", i, buf[:n], msg)
				}
				if from.String() != peer.LocalAddr().String() {
					t.Fatalf("round trip %d: from %v want %v", i, from, peer.LocalAddr())
				}
			}
			if sent, received := conn.sent.Load(), conn.received.Load(); !conn.flowed(3) {
				t.Fatalf("pion sent %d and received %d ChannelData messages: its channel was never used", sent, received)
			}
		})
	}
}

// channelDataCounter counts the ChannelData messages pion's client writes
// to and reads from the relay. Its first two bits are 01 (RFC 8656 §12.4);
// a STUN message's are 00 (RFC 8489 §6).
type channelDataCounter struct {
	net.PacketConn
	sent, received atomic.Uint64
}

// flowed reports whether at least n ChannelData messages went each way.
func (c *channelDataCounter) flowed(n uint64) bool {
	return c.sent.Load() >= n && c.received.Load() >= n
}

func isChannelData(b []byte) bool { return len(b) >= 4 && b[0]>>6 == 1 }

func (c *channelDataCounter) WriteTo(b []byte, to net.Addr) (int, error) {
	if isChannelData(b) {
		c.sent.Add(1)
	}
	return c.PacketConn.WriteTo(b, to)
}

func (c *channelDataCounter) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := c.PacketConn.ReadFrom(b)
	if err == nil && isChannelData(b[:n]) {
		c.received.Add(1)
	}
	return n, from, err
}

func serverAddrFor(srv *testServer, transport string) string {
	switch transport {
	case "tcp":
		return srv.tcp.String()
	case "tls":
		return srv.tls.String()
	}
	return srv.udp.String()
}

// dialPion returns the net.PacketConn pion's client speaks through: a UDP
// socket, or a TCP/TLS connection with STUN framing.
func dialPion(t *testing.T, srv *testServer, transport string) net.PacketConn {
	t.Helper()
	switch transport {
	case "tcp":
		c, err := net.Dial("tcp", srv.tcp.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return turn.NewSTUNConn(c)
	case "tls":
		c, err := tls.Dial("tcp", srv.tls.String(), &tls.Config{RootCAs: srv.certPool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return turn.NewSTUNConn(c)
	}
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// listeningPionClient is pion/turn v3's client for the test relay over conn,
// with TURN REST credentials for user, listening; closed with the test.
func listeningPionClient(t *testing.T, server string, conn net.PacketConn, user string) *turn.Client {
	t.Helper()
	name, pass := restCredentials(user)
	client, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: server,
		Conn:           conn,
		Username:       name,
		Password:       pass,
		Realm:          testRealm,
		LoggerFactory:  logging.NewDefaultLoggerFactory(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	if err := client.Listen(); err != nil {
		t.Fatal(err)
	}
	return client
}
