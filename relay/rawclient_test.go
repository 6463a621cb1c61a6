package relay

import (
	"crypto/rand"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// rawClient speaks STUN/TURN to the relay byte by byte over UDP, so tests can
// send exactly what they mean — including malformed messages — and inspect
// exactly what comes back.
type rawClient struct {
	t        testing.TB
	conn     udpConn
	server   netip.AddrPort
	username string
	key      auth.Key
	nonce    []byte
	resp     stunmsg.Message
	buf      []byte
	relayed  netip.AddrPort // set by allocate
}

// udpConn is what rawClient and udpPeer need of a UDP socket: a
// *net.UDPConn on loopback, or a netiotest.PacketConn on a fake network.
type udpConn interface {
	LocalAddr() net.Addr
	SetReadDeadline(t time.Time) error
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
	Close() error
}

func newRawClient(t testing.TB, server netip.AddrPort, network string) *rawClient {
	t.Helper()
	laddr := "127.0.0.1:0"
	if network == "udp6" {
		laddr = "[::1]:0"
	}
	c, err := net.ListenPacket(network, laddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return newRawClientOn(t, server, c.(*net.UDPConn))
}

// newRawClientOn is a rawClient on conn, with REST credentials.
func newRawClientOn(t testing.TB, server netip.AddrPort, conn udpConn) *rawClient {
	user, pass := restCredentials("raw")
	return &rawClient{
		t:        t,
		conn:     conn,
		server:   server,
		username: user,
		key:      auth.LongTermKey(user, testRealm, pass),
		buf:      make([]byte, 65536),
	}
}

func (c *rawClient) addr() netip.AddrPort {
	return c.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

func newTxID() (id [12]byte) {
	rand.Read(id[:])
	return
}

// sendRaw sends b as one datagram.
func (c *rawClient) sendRaw(b []byte) {
	c.t.Helper()
	if _, err := c.conn.WriteToUDPAddrPort(b, c.server); err != nil {
		c.t.Fatal(err)
	}
}

// recvRaw waits up to d for one datagram; nil on timeout.
func (c *rawClient) recvRaw(d time.Duration) []byte {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(d))
	n, _, err := c.conn.ReadFromUDPAddrPort(c.buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		c.t.Fatal(err)
	}
	return append([]byte(nil), c.buf[:n]...)
}

// expectSilence asserts nothing arrives for a short while.
func (c *rawClient) expectSilence() {
	c.t.Helper()
	if b := c.recvRaw(150 * time.Millisecond); b != nil {
		c.t.Fatalf("expected no answer, got %d bytes: % x", len(b), b)
	}
}

// msgBuilder builds one request; attrs adds the method's attributes.
type msgBuilder func(b *stunmsg.Builder)

// build encodes a message of the given method and class. With auth, it adds
// USERNAME, REALM, NONCE and MESSAGE-INTEGRITY with the client's key.
func (c *rawClient) build(method stunmsg.Method, class stunmsg.Class, txid [12]byte, authed bool, attrs msgBuilder) []byte {
	var b stunmsg.Builder
	b.Reset(make([]byte, 0, 2048), stunmsg.MessageType(method, class), txid)
	if attrs != nil {
		attrs(&b)
	}
	if authed {
		b.Add(stunmsg.AttrUsername, []byte(c.username))
		b.Add(stunmsg.AttrRealm, []byte(testRealm))
		b.Add(stunmsg.AttrNonce, c.nonce)
		b.AddIntegrity(c.key[:])
	}
	out, err := b.Bytes()
	if err != nil {
		c.t.Fatalf("build: %v", err)
	}
	return out
}

// roundTrip sends a request and returns the parsed response (valid until
// the next call). It fails the test on timeout or a mismatched transaction.
func (c *rawClient) roundTrip(req []byte) *stunmsg.Message {
	c.t.Helper()
	c.sendRaw(req)
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		b := c.recvRaw(time.Until(deadline))
		if b == nil {
			break
		}
		if stunmsg.Classify(b) != stunmsg.KindSTUN {
			continue
		}
		if err := c.resp.Parse(b); err != nil {
			c.t.Fatalf("relay sent an invalid message: %v", err)
		}
		if c.resp.Class == stunmsg.Indication {
			continue
		}
		if string(c.resp.TransactionID[:]) != string(req[8:20]) {
			c.t.Fatalf("response for another transaction")
		}
		return &c.resp
	}
	c.t.Fatalf("no response")
	return nil
}

// request sends an authenticated request, learning the nonce from a 401 or
// 438 first when needed, and returns the final response.
func (c *rawClient) request(method stunmsg.Method, attrs msgBuilder) *stunmsg.Message {
	c.t.Helper()
	for range 3 {
		if c.nonce == nil {
			r := c.roundTrip(c.build(method, stunmsg.Request, newTxID(), false, attrs))
			if code := errorCode(r); code != 401 {
				return r
			}
			c.learnNonce(r)
			continue
		}
		r := c.roundTrip(c.build(method, stunmsg.Request, newTxID(), true, attrs))
		if code := errorCode(r); code == 438 || code == 401 && c.nonce == nil {
			c.learnNonce(r)
			continue
		}
		return r
	}
	c.t.Fatalf("could not authenticate")
	return nil
}

func (c *rawClient) learnNonce(r *stunmsg.Message) {
	n, ok := r.Get(stunmsg.AttrNonce)
	if !ok {
		c.t.Fatalf("challenge without NONCE")
	}
	c.nonce = append([]byte(nil), n...)
}

// errorCode returns the response's ERROR-CODE, 0 for a success response.
func errorCode(m *stunmsg.Message) int {
	if m.Class == stunmsg.Success {
		return 0
	}
	v, ok := m.Get(stunmsg.AttrErrorCode)
	if !ok {
		return -1
	}
	code, _, err := stunmsg.DecodeErrorCode(v)
	if err != nil {
		return -1
	}
	return code
}

// allocate creates a UDP allocation and returns its IPv4 relayed address.
func (c *rawClient) allocate() netip.AddrPort {
	c.t.Helper()
	r := c.request(stunmsg.Allocate, func(b *stunmsg.Builder) {
		b.AddRequestedTransport(stunmsg.ProtoUDP)
	})
	if code := errorCode(r); code != 0 {
		c.t.Fatalf("allocate: error %d", code)
	}
	v, ok := r.Get(stunmsg.AttrXORRelayedAddress)
	if !ok {
		c.t.Fatal("allocate: no XOR-RELAYED-ADDRESS")
	}
	relayed, err := stunmsg.DecodeXORAddress(v, r.TransactionID)
	if err != nil {
		c.t.Fatal(err)
	}
	c.relayed = relayed
	return relayed
}

// allocatedRelay returns the relayed address the last allocate returned.
func (c *rawClient) allocatedRelay(t testing.TB) netip.AddrPort {
	t.Helper()
	return c.relayed
}

// permit creates permissions for peers and requires success.
func (c *rawClient) permit(peers ...netip.AddrPort) {
	c.t.Helper()
	r := c.request(stunmsg.CreatePermission, func(b *stunmsg.Builder) {
		for _, p := range peers {
			b.AddXORAddress(stunmsg.AttrXORPeerAddress, p)
		}
	})
	if code := errorCode(r); code != 0 {
		c.t.Fatalf("create permission: error %d", code)
	}
}

// bind binds ch to peer and requires success.
func (c *rawClient) bind(ch uint16, peer netip.AddrPort) {
	c.t.Helper()
	r := c.request(stunmsg.ChannelBind, func(b *stunmsg.Builder) {
		b.AddChannelNumber(ch)
		b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
	})
	if code := errorCode(r); code != 0 {
		c.t.Fatalf("channel bind: error %d", code)
	}
}

// channelData encodes a ChannelData message.
func channelData(ch uint16, payload []byte) []byte {
	b := make([]byte, 4+len(payload))
	stunmsg.PutChannelDataHeader(b, ch, len(payload))
	copy(b[4:], payload)
	return b
}

// udpPeer is a plain UDP socket standing in for a peer.
type udpPeer struct {
	t    testing.TB
	conn udpConn
	buf  []byte
}

func newUDPPeer(t testing.TB, network string) *udpPeer {
	t.Helper()
	laddr := "127.0.0.1:0"
	if network == "udp6" {
		laddr = "[::1]:0"
	}
	c, err := net.ListenPacket(network, laddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpPeer{t: t, conn: c.(*net.UDPConn), buf: make([]byte, 65536)}
}

func (p *udpPeer) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *udpPeer) recv(d time.Duration) ([]byte, netip.AddrPort, bool) {
	p.conn.SetReadDeadline(time.Now().Add(d))
	n, from, err := p.conn.ReadFromUDPAddrPort(p.buf)
	if err != nil {
		return nil, netip.AddrPort{}, false
	}
	return append([]byte(nil), p.buf[:n]...), from, true
}

func (p *udpPeer) sendTo(b []byte, to netip.AddrPort) {
	if _, err := p.conn.WriteToUDPAddrPort(b, to); err != nil {
		p.t.Fatal(err)
	}
}
