package relay

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"

	"github.com/turnstile-relay/turnstile/gateway"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// Messages the gateway originates for the client: DNS answers from the
// sentinel and synthesized ICMP errors. Neither is on the per-datagram path
// of an existing flow (answers follow queries; refusals are rate-limited
// by the core), so they are framed into a fresh buffer.

// gatewayDataToClient sends payload to the client as a datagram from peer:
// ChannelData on the channel bound to peer, else a Data indication with
// XOR-PEER-ADDRESS = peer (RFC 8656 §11.3, §12.7). Like every datagram the
// relay delivers it needs a live permission for peer's IP (§9); a DNS
// answer that arrives after the permission for the sentinel expired is
// dropped. payload is only read during the call.
func (s *Server) gatewayDataToClient(sess *session, peer netip.AddrPort, payload []byte, now mono.Time, sd *sender, c *counters) {
	a := sess.alloc
	if !a.Permitted(peer.Addr(), now) {
		c.drop(DropNoPermission)
		return
	}
	const off = stunmsg.DataIndicationMaxHead
	buf := make([]byte, off+len(payload)+3) // + up to 3 bytes of padding
	copy(buf[off:], payload)
	var start, end int
	if ch, ok := a.PeerChannel(peer, now); ok {
		start, end = off-stunmsg.ChannelDataHeaderSize, off+len(payload)
		s.channels.PutChannelDataHeader(buf[start:], ch, len(payload))
		if sess.client.stream != nil {
			// RFC 8656 §12.5: over streams ChannelData is padded to a
			// multiple of four bytes (the padding bytes are zero).
			end = start + stunmsg.ChannelDataPaddedLen(len(payload))
		}
	} else {
		var ok bool
		if start, end, ok = stunmsg.PutDataIndication(buf, off, len(payload), peer, randomTxID()); !ok {
			c.drop(DropSendFailed)
			return
		}
	}
	sess.client.send(buf[start:end], sd, c)
}

// gatewayICMPToClient tells the client that the gateway refused a datagram
// it sent to peer: a Data indication with XOR-PEER-ADDRESS = peer (the
// proxy IP:port the client used) and ICMP = icmp, without DATA (RFC 8656
// §11.5, §18.13; the ICMP family is peer's). A channel bound to peer does
// not matter: ChannelData cannot carry ICMP.
func (s *Server) gatewayICMPToClient(sess *session, peer netip.AddrPort, icmp gateway.ICMP, sd *sender, c *counters) {
	var b stunmsg.Builder
	b.Reset(make([]byte, 0, 64), stunmsg.MessageType(stunmsg.Data, stunmsg.Indication), randomTxID())
	b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
	b.AddICMP(icmp.Type, icmp.Code, icmp.Data)
	msg, err := b.Bytes()
	if err != nil {
		c.drop(DropSendFailed)
		return
	}
	sess.client.send(msg, sd, c)
}

// randomTxID draws a transaction ID for an indication (RFC 8489 §6:
// random; indications are matched to nothing, so math/rand/v2's
// goroutine-safe generator suffices).
func randomTxID() (t [12]byte) {
	binary.BigEndian.PutUint64(t[:8], rand.Uint64())
	binary.BigEndian.PutUint32(t[8:], rand.Uint32())
	return t
}
