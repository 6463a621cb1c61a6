package relay

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// streamClient speaks STUN/TURN to the relay over one TCP or TLS connection
// (RFC 8656 §12.5 framing), byte by byte like rawClient does over UDP.
type streamClient struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	// creds holds the credentials and nonce and builds messages; its UDP
	// socket is unused (nil).
	creds *rawClient
	resp  stunmsg.Message
}

// dialStream connects to srv's "tcp" or "tls" listener.
func dialStream(t testing.TB, srv *testServer, transport string) *streamClient {
	t.Helper()
	return dialStreamWith(t, srv, transport, &net.Dialer{})
}

// dialStreamWith is dialStream through d (a source address, socket
// options).
func dialStreamWith(t testing.TB, srv *testServer, transport string, d *net.Dialer) *streamClient {
	t.Helper()
	var conn net.Conn
	var err error
	switch transport {
	case "tcp":
		conn, err = d.Dial("tcp", srv.tcp.String())
	case "tls":
		conn, err = tls.DialWithDialer(d, "tcp", srv.tls.String(), &tls.Config{RootCAs: srv.certPool, ServerName: "127.0.0.1"})
	default:
		t.Fatalf("unknown stream transport %q", transport)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	user, pass := restCredentials("stream")
	return &streamClient{
		t:     t,
		conn:  conn,
		r:     bufio.NewReader(conn),
		creds: &rawClient{t: t, username: user, key: auth.LongTermKey(user, testRealm, pass)},
	}
}

func (c *streamClient) localAddr() netip.AddrPort {
	return c.conn.LocalAddr().(*net.TCPAddr).AddrPort()
}

// write sends b as is (one or several frames, or garbage).
func (c *streamClient) write(b []byte) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// readFrame reads one complete frame within d, ChannelData padding
// included; it returns the error of a closed or timed-out connection.
func (c *streamClient) readFrame(d time.Duration) ([]byte, error) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(d))
	head := make([]byte, 4)
	if _, err := io.ReadFull(c.r, head); err != nil {
		return nil, err
	}
	total, ok := stunmsg.FrameLength(head)
	if !ok {
		c.t.Fatalf("relay sent an unframeable stream message % x", head)
	}
	frame := make([]byte, total)
	copy(frame, head)
	if _, err := io.ReadFull(c.r, frame[4:]); err != nil {
		return nil, err
	}
	return frame, nil
}

// mustReadFrame is readFrame that fails the test on error.
func (c *streamClient) mustReadFrame() []byte {
	c.t.Helper()
	f, err := c.readFrame(3 * time.Second)
	if err != nil {
		c.t.Fatalf("reading a frame: %v", err)
	}
	return f
}

// roundTrip sends a request and returns its response, skipping indications
// and ChannelData in between.
func (c *streamClient) roundTrip(req []byte) *stunmsg.Message {
	c.t.Helper()
	c.write(req)
	for {
		f := c.mustReadFrame()
		if stunmsg.Classify(f) != stunmsg.KindSTUN {
			continue
		}
		if err := c.resp.Parse(f); err != nil {
			c.t.Fatalf("relay sent an invalid message: %v", err)
		}
		if c.resp.Class == stunmsg.Indication {
			continue
		}
		if string(c.resp.TransactionID[:]) != string(req[8:20]) {
			c.t.Fatal("response for another transaction")
		}
		return &c.resp
	}
}

// request sends an authenticated request, learning the nonce from a 401 or
// 438 first when needed.
func (c *streamClient) request(method stunmsg.Method, attrs msgBuilder) *stunmsg.Message {
	c.t.Helper()
	for range 3 {
		authed := c.creds.nonce != nil
		r := c.roundTrip(c.creds.build(method, stunmsg.Request, newTxID(), authed, attrs))
		code := errorCode(r)
		if !authed && code == 401 || code == 438 {
			c.creds.learnNonce(r)
			continue
		}
		return r
	}
	c.t.Fatal("could not authenticate")
	return nil
}

// allocate creates an allocation on the connection and returns its IPv4
// relayed address.
func (c *streamClient) allocate() netip.AddrPort {
	c.t.Helper()
	m := c.request(stunmsg.Allocate, func(b *stunmsg.Builder) { b.AddRequestedTransport(stunmsg.ProtoUDP) })
	requireCode(c.t, m, 0)
	return xorAddr(c.t, m, stunmsg.AttrXORRelayedAddress)
}

// requireClosed waits until the relay closes the connection; frames still
// in flight are skipped.
func (c *streamClient) requireClosed(within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, err := c.readFrame(time.Until(deadline))
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("connection still open after %v", within)
		}
		return
	}
}

// paddedChannelData encodes ChannelData as a stream carries it: padded to a
// multiple of 4 bytes that Length does not count (RFC 8656 §12.5).
func paddedChannelData(ch uint16, payload []byte) []byte {
	b := make([]byte, stunmsg.ChannelDataPaddedLen(len(payload)))
	stunmsg.PutChannelDataHeader(b, ch, len(payload))
	copy(b[4:], payload)
	return b
}
