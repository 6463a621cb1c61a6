package relay

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"

	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// The relay's side of Config.Extension (extension.go): the calls on the
// peer path, and the Client capability each allocation's session offers.
// Every call site first checks session.ext != nil, so a plain relay pays a
// nil check and nothing else.

// extOutbound hands a client datagram to peer to the allocation's
// extension, after the permission check on peer. It reports false when the
// relay's ordinary path goes on; true when the datagram was sent to the
// address the extension chose, or consumed by it.
func (s *Server) extOutbound(sess *session, peer netip.AddrPort, payload []byte, now mono.Time, sd *sender, c *counters, t transportIndex) bool {
	v := sess.ext.Outbound(sess, peer, payload, now, c.lane)
	switch v.Action {
	case OutboundPass:
		return false
	case OutboundSend:
		// The extension's destination (a resolved name, for the
		// gateway) may be the relay itself; the client's peer address was
		// checked by the core, this one was not.
		if s.core.OwnSocket(v.To) {
			c.drop(DropPeerOwnSocket)
			return true
		}
		rs := sess.relayFor(v.To.Addr())
		if rs == nil {
			c.drop(DropPeerFamily)
			return true
		}
		if !rs.sendTo(payload, v.To, sd) {
			c.drop(DropSendFailed)
			return true
		}
		c.relayed(ToPeer, t, len(payload))
	}
	return true
}

// DeliverData implements Client (extension.go). The messages an extension
// originates are not on the per-datagram path of an existing flow (answers
// follow queries), so they are framed into a fresh buffer and sent at once.
func (sess *session) DeliverData(peer netip.AddrPort, payload []byte) {
	s, c := sess.srv, &sess.srv.extCounters
	now := s.clock.Now()
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
	var sd sender
	sess.client.send(buf[start:end], &sd, c)
}

// DeliverICMP implements Client. A channel bound to peer does not matter:
// ChannelData cannot carry ICMP (RFC 8656 §11.5).
func (sess *session) DeliverICMP(peer netip.AddrPort, icmp ICMP) {
	s, c := sess.srv, &sess.srv.extCounters
	if !sess.alloc.Permitted(peer.Addr(), s.clock.Now()) {
		c.drop(DropICMPNoPermission)
		return
	}
	var b stunmsg.Builder
	b.Reset(make([]byte, 0, 64), stunmsg.MessageType(stunmsg.Data, stunmsg.Indication), randomTxID())
	b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
	b.AddICMP(icmp.Type, icmp.Code, icmp.Data)
	msg, err := b.Bytes()
	if err != nil {
		c.drop(DropSendFailed)
		return
	}
	var sd sender
	sess.client.send(msg, &sd, c)
}

// randomTxID draws a transaction ID for an indication (RFC 8489 §6:
// random; indications are matched to nothing, so math/rand/v2's
// goroutine-safe generator suffices).
func randomTxID() (t [12]byte) {
	binary.BigEndian.PutUint64(t[:8], rand.Uint64())
	binary.BigEndian.PutUint32(t[8:], rand.Uint32())
	return t
}
