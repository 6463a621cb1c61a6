package turncore

import (
	"net/netip"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
)

// ToPeer is where a client's ChannelData goes: the allocation, the
// channel's peer and the payload (aliasing the caller's datagram).
type ToPeer struct {
	Alloc   *allocation.Allocation
	Peer    netip.AddrPort
	Payload []byte
}

// ChannelDataToPeer is the client → peer lookup of the hot path (RFC 8656
// §12.6): the 5-tuple's allocation, the channel's peer and its permission.
// It allocates nothing and takes no global lock. ok false comes with the
// drop to count. The shell then offers the payload to its extension and
// sends it from the relayed address of the peer's family.
func (c *Core) ChannelDataToPeer(ft allocation.FiveTuple, data []byte, now mono.Time) (ToPeer, Drop, bool) {
	ch, payload, ok := c.cfg.Channels.ParseChannelData(data)
	if !ok {
		return ToPeer{}, DropChannelDataMalformed, false
	}
	a := c.cfg.Table.Lookup(ft, now)
	if a == nil {
		return ToPeer{}, DropNoAllocation, false
	}
	peer, ok := a.ChannelPeer(ch, now)
	if !ok {
		return ToPeer{}, DropChannelUnbound, false
	}
	// The binding installed a permission, but the two expire separately
	// (RFC 8656 §9, §12: 300 s and 600 s); data only flows to a peer with a
	// live permission, in this direction as in the other (§9, §21.2).
	if !a.Permitted(peer.Addr(), now) {
		return ToPeer{}, DropNoPermission, false
	}
	return ToPeer{Alloc: a, Peer: peer, Payload: payload}, 0, true
}

// PeerToClient is the peer → client lookup (RFC 8656 §11.3, §12.7): a
// datagram from peer reaches a's client only with a permission for the
// peer's IP (§9), as ChannelData when a channel is bound to the peer
// (hasChannel, with its number) and as a Data indication otherwise. It
// allocates nothing and takes no global lock.
func (c *Core) PeerToClient(a *allocation.Allocation, peer netip.AddrPort, now mono.Time) (channel uint16, hasChannel bool, drop Drop, ok bool) {
	if !a.Permitted(peer.Addr(), now) {
		return 0, false, DropNoPermission, false
	}
	channel, hasChannel = a.PeerChannel(peer, now)
	return channel, hasChannel, 0, true
}
