package turncore

import (
	"errors"
	"net/netip"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// createPermission handles CreatePermission (RFC 8656 §10.2). The request is
// atomic: every XOR-PEER-ADDRESS is validated before any permission is
// installed, and an error installs none.
func (p *Processor) createPermission(req *request, a *allocation.Allocation) []byte {
	key := &req.key
	p.peers = p.peers[:0]
	for v := range p.msg.All(stunmsg.AttrXORPeerAddress) {
		peer, err := stunmsg.DecodeXORAddress(v, p.msg.TransactionID)
		if err != nil {
			return p.errorResponse(400, key, false, req)
		}
		p.peers = append(p.peers, peer.Addr().Unmap())
	}
	if len(p.peers) == 0 {
		return p.errorResponse(400, key, false, req)
	}
	// RFC 8656 §10.2: 443 when a peer's family matches no relayed address,
	// then 403 for addresses the policy refuses.
	for _, ip := range p.peers {
		if !familyMatches(a, ip) {
			return p.errorResponse(443, key, false, req)
		}
	}
	for _, ip := range p.peers {
		if err := p.permitPeer(a, netip.AddrPortFrom(ip, 0), false, req); err != nil {
			p.res.Outcome.PeerDenied = err
			return p.errorResponse(RefusalCode(err, 403), key, false, req)
		}
	}
	if err := a.Permit(p.peers, req.now); err != nil {
		// The only way Permit fails is the per-allocation capacity (508).
		return p.errorResponse(508, key, false, req)
	}
	for _, ip := range p.peers {
		p.act(Action{Kind: ActPermitted, Alloc: a, Peer: netip.AddrPortFrom(ip, 0)})
	}
	p.successResponse()
	return p.finish(key)
}

// channelBind handles ChannelBind (RFC 8656 §12.2): it binds or refreshes a
// channel and installs or refreshes the permission for the peer's IP.
func (p *Processor) channelBind(req *request, a *allocation.Allocation) []byte {
	key := &req.key
	chValue, okCh := p.msg.Get(stunmsg.AttrChannelNumber)
	peerValue, okPeer := p.msg.Get(stunmsg.AttrXORPeerAddress)
	if !okCh || !okPeer {
		return p.errorResponse(400, key, false, req)
	}
	ch, ok := stunmsg.DecodeChannelNumber(chValue)
	if !ok || !p.c.cfg.Channels.Contains(ch) {
		// RFC 8656 §12.2: only 0x4000–0x4FFF can be bound (and RFC
		// 5766's 0x5000–0x7FFF when the operator opted in).
		p.res.Outcome.LegacyChannel = ok && stunmsg.LegacyChannels.Contains(ch)
		return p.errorResponse(400, key, false, req)
	}
	peer, err := stunmsg.DecodeXORAddress(peerValue, p.msg.TransactionID)
	if err != nil || stateOf(a).tcp {
		// RFC 6062 §5.1: a TCP allocation has no channels; its data
		// goes over peer data connections.
		return p.errorResponse(400, key, false, req)
	}
	peer = peerAddr(peer)
	if !familyMatches(a, peer.Addr()) {
		return p.errorResponse(443, key, false, req)
	}
	if err := p.permitPeer(a, peer, true, req); err != nil {
		p.res.Outcome.PeerDenied = err
		return p.errorResponse(RefusalCode(err, 403), key, false, req)
	}
	switch err := a.Bind(ch, peer, req.now); {
	case err == nil:
	case errors.Is(err, allocation.ErrCapacity):
		return p.errorResponse(508, key, false, req)
	default:
		// A number bound to another peer or a peer bound to another number.
		return p.errorResponse(400, key, false, req)
	}
	p.act(Action{Kind: ActChannelBound, Alloc: a, Peer: peer, Channel: ch})
	p.successResponse()
	return p.finish(key)
}

// permitPeer is the peer check of CreatePermission (hasPort false) and
// ChannelBind (RFC 8656 §10.2, §12.2): the relay's own sockets are refused
// first, whatever anyone allows; then the extension decides on the
// addresses it claims, the Policy on every other. Permissions are IP-only
// (RFC 8656 §9), so CreatePermission to the relay's own IP is left to the
// Policy; data to its sockets is stopped by port (ChannelBind here, Send in
// send).
func (p *Processor) permitPeer(a *allocation.Allocation, peer netip.AddrPort, hasPort bool, req *request) error {
	if hasPort && p.c.OwnSocket(peer) {
		return errOwnSocket
	}
	if h := stateOf(a).hook; h != nil {
		if decided, err := h.PermitPeer(peer, hasPort, req.now); decided {
			return err
		}
	}
	return p.c.cfg.Policy.PermitPeer(a, peer, hasPort)
}

// errOwnSocket refuses a ChannelBind to one of the relay's own sockets.
var errOwnSocket = &Refusal{Code: 403, Reason: "own_socket"}

// peerAddr canonicalizes an address for lookups and for the wire.
func peerAddr(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
