package turnclient

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// Connect asks the relay to open a TCP connection from the TCP allocation's
// relayed address to peer (RFC 6062 §5.2) and returns its CONNECTION-ID.
// An error response (403, 446, 447) is returned as *Error.
func (c *Client) Connect(peer netip.AddrPort) (uint32, error) {
	resp, err := c.request(stunmsg.Connect, func(b *stunmsg.Builder) {
		b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
	})
	if err != nil {
		return 0, err
	}
	if resp.Class != stunmsg.Success {
		return 0, responseError(resp)
	}
	v, ok := resp.Get(stunmsg.AttrConnectionID)
	if !ok {
		return 0, fmt.Errorf("turnclient: connect: success without CONNECTION-ID")
	}
	id, ok := stunmsg.DecodeUint32(v)
	if !ok {
		return 0, fmt.Errorf("turnclient: connect: bad CONNECTION-ID")
	}
	return id, nil
}

// DataConn is a client data connection after its ConnectionBind (RFC 6062
// §5.4): raw bytes to and from the peer. Reads go through a buffer that
// may hold peer bytes which arrived right behind the bind's response.
type DataConn struct {
	net.Conn
	r *bufio.Reader
}

// Read reads the peer's bytes.
func (d *DataConn) Read(p []byte) (int, error) { return d.r.Read(p) }

// BindConnection opens a new TCP connection to the relay and binds it to
// the connection id with the client's credentials and current nonce (RFC
// 6062 §5.4; the relay accepts the control connection's nonce from the same
// host). It needs a stream client that already authenticated a request.
func (c *Client) BindConnection(ctx context.Context, id uint32) (*DataConn, error) {
	if !c.stream {
		return nil, fmt.Errorf("turnclient: ConnectionBind needs a TCP client")
	}
	c.mu.RLock()
	realm, nonce, key := c.realm, c.nonce, c.key
	c.mu.RUnlock()
	if nonce == "" {
		return nil, fmt.Errorf("turnclient: ConnectionBind before any authenticated request")
	}
	var txid [12]byte
	crand.Read(txid[:]) // RFC 8489 §6: cryptographically random
	req, err := c.build(stunmsg.ConnectionBind, txid, func(b *stunmsg.Builder) {
		b.AddUint32(stunmsg.AttrConnectionID, id)
	}, true, realm, nonce, key)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.cfg.Server.String())
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	r := bufio.NewReader(conn)
	resp, err := readStunFrame(r, conn, req)
	if err == nil && (resp.Class != stunmsg.Success || !acceptable(resp, &key)) {
		err = responseError(resp)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return &DataConn{Conn: conn, r: r}, nil
}

// readStunFrame writes req and reads one STUN message (RFC 8489 §6.2.2:
// the header's length frames it on a stream).
func readStunFrame(r *bufio.Reader, w io.Writer, req []byte) (*stunmsg.Message, error) {
	if _, err := w.Write(req); err != nil {
		return nil, err
	}
	var head [20]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	msg := make([]byte, 20+int(binary.BigEndian.Uint16(head[2:4])))
	copy(msg, head[:])
	if _, err := io.ReadFull(r, msg[20:]); err != nil {
		return nil, err
	}
	m := new(stunmsg.Message)
	if err := m.Parse(msg); err != nil {
		return nil, err
	}
	return m, nil
}
