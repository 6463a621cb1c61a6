package turnclient

import (
	"net/netip"

	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// inboundKind is what decodeInbound made of a message from the relay.
type inboundKind uint8

const (
	inboundIgnored        inboundKind = iota // malformed, or nothing a client acts on
	inboundResponse                          // a success or error response: m holds it
	inboundEvent                             // data or ICMP for Receive
	inboundUnboundChannel                    // ChannelData on a channel this client never bound
)

// inbound is one decoded data or ICMP event. payload aliases the received
// message.
type inbound struct {
	kind    EventKind
	peer    netip.AddrPort
	channel uint16
	icmp    ICMPEvent
	payload []byte
}

// decodeInbound classifies one message received from the relay and decodes
// what the client acts on. It is total: any input yields a kind, never a
// panic, and it allocates nothing. m is filled for STUN messages;
// channelPeer maps a bound channel number to its peer.
//
//   - ChannelData (RFC 8656 §12.7): numbers of RFC 5766's wider range are
//     accepted, since the client only ever sees channels it bound itself.
//   - Data indications (§11.4, §11.6): XOR-PEER-ADDRESS is required; with an
//     ICMP attribute the indication is an ICMP event (DATA is then absent,
//     §18.4), otherwise DATA is required.
func decodeInbound(m *stunmsg.Message, msg []byte, channelPeer func(uint16) (netip.AddrPort, bool)) (inbound, inboundKind) {
	var in inbound
	switch stunmsg.LegacyChannels.Classify(msg) {
	case stunmsg.KindChannelData:
		ch, payload, ok := stunmsg.LegacyChannels.ParseChannelData(msg)
		if !ok {
			return in, inboundIgnored
		}
		peer, bound := channelPeer(ch)
		if !bound {
			return in, inboundUnboundChannel
		}
		in.kind, in.peer, in.channel, in.payload = EventData, peer, ch, payload
		return in, inboundEvent
	case stunmsg.KindSTUN:
	default:
		return in, inboundIgnored
	}
	if m.Parse(msg) != nil {
		return in, inboundIgnored
	}
	switch m.Class {
	case stunmsg.Success, stunmsg.Error:
		return in, inboundResponse
	case stunmsg.Indication:
		if m.Method != stunmsg.Data {
			return in, inboundIgnored
		}
	default:
		return in, inboundIgnored
	}
	v, ok := m.Get(stunmsg.AttrXORPeerAddress)
	if !ok {
		return in, inboundIgnored
	}
	peer, err := stunmsg.DecodeXORAddress(v, m.TransactionID)
	if err != nil {
		return in, inboundIgnored
	}
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	if v, ok := m.Get(stunmsg.AttrICMP); ok {
		typ, code, data, ok := stunmsg.DecodeICMP(v)
		if !ok {
			return in, inboundIgnored
		}
		in.kind = EventICMP
		in.icmp = ICMPEvent{Peer: peer, Family: FamilyOf(peer.Addr()), Type: typ, Code: code, MTU: data}
		return in, inboundEvent
	}
	data, ok := m.Get(stunmsg.AttrData)
	if !ok {
		return in, inboundIgnored
	}
	in.kind, in.peer, in.payload = EventData, peer, data
	return in, inboundEvent
}

// channelPeer returns the peer a channel was bound to by this client.
func (c *Client) channelPeer(ch uint16) (netip.AddrPort, bool) {
	c.mu.RLock()
	peer, ok := c.peersByChannel[ch]
	c.mu.RUnlock()
	return peer, ok
}
