package turnclient

import (
	"fmt"
	"net/netip"

	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// sendHeadroom is the largest Send indication overhead: header (20),
// XOR-PEER-ADDRESS for IPv6 (4+20), DONT-FRAGMENT (4), DATA header (4) and
// up to 3 bytes of padding.
const sendHeadroom = 20 + 24 + 4 + 4 + 3

// maxPayload is the largest DATA value a STUN message can carry and the
// largest ChannelData Length (RFC 8656 §12.4).
const maxPayload = 0xFFFF - (sendHeadroom - stunmsg.HeaderSize)

// Send relays payload to peer: as ChannelData when this client bound a
// channel to peer, otherwise as a Send indication (RFC 8656 §11.1, §12.4).
// The relay needs a permission for the peer's IP either way. payload is
// only read during the call. Allocates nothing once the client's write
// buffer has grown to the payload size.
func (c *Client) Send(peer netip.AddrPort, payload []byte) error {
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	c.mu.RLock()
	ch, bound := c.channelsByPeer[peer]
	c.mu.RUnlock()
	if bound {
		return c.SendChannelData(ch, payload)
	}
	return c.SendIndication(peer, payload, false)
}

// SendIndication relays payload to peer in a Send indication (RFC 8656
// §11.1). dontFragment adds DONT-FRAGMENT, asking the relay to set DF on
// this datagram. Indications are never answered: a refused one is silently
// dropped by the relay. payload is only read during the call.
func (c *Client) SendIndication(peer netip.AddrPort, payload []byte, dontFragment bool) error {
	if len(payload) > maxPayload {
		return fmt.Errorf("turnclient: payload of %d bytes exceeds %d", len(payload), maxPayload)
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	var txid [12]byte
	c.rng.Read(txid[:]) // indications match nothing; a fast PRNG suffices
	var b stunmsg.Builder
	b.Reset(c.writeBuffer(sendHeadroom+len(payload)), stunmsg.MessageType(stunmsg.Send, stunmsg.Indication), txid)
	b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
	if dontFragment {
		b.Add(stunmsg.AttrDontFragment, nil)
	}
	b.Add(stunmsg.AttrData, payload)
	msg, err := b.Bytes()
	if err != nil {
		return fmt.Errorf("turnclient: building a Send indication: %w", err)
	}
	return c.writeLocked(msg)
}

// SendChannelData relays payload to the peer bound to channel ch in a
// ChannelData message (RFC 8656 §12.4), padded to a multiple of four bytes
// over TCP and TLS (§12.5). The number is sent as given, so tests may send
// unbound or reserved numbers. payload is only read during the call.
func (c *Client) SendChannelData(ch uint16, payload []byte) error {
	if len(payload) > maxPayload {
		return fmt.Errorf("turnclient: payload of %d bytes exceeds %d", len(payload), maxPayload)
	}
	n := stunmsg.ChannelDataHeaderSize + len(payload)
	if c.stream {
		n = stunmsg.ChannelDataPaddedLen(len(payload))
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	buf := c.writeBuffer(n)[:n]
	buf[0], buf[1] = byte(ch>>8), byte(ch)
	buf[2], buf[3] = byte(len(payload)>>8), byte(len(payload))
	end := copy(buf[stunmsg.ChannelDataHeaderSize:], payload) + stunmsg.ChannelDataHeaderSize
	clear(buf[end:])
	return c.writeLocked(buf)
}

// writeBuffer returns the client's write buffer with at least n bytes of
// capacity. The caller holds writeMu.
func (c *Client) writeBuffer(n int) []byte {
	if cap(c.wbuf) < n {
		c.wbuf = make([]byte, 0, max(n, 2048))
	}
	return c.wbuf[:0]
}
