package relay

import (
	"errors"
	"net/netip"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// createPermission handles CreatePermission (RFC 8656 §10.2). The request is
// atomic: every XOR-PEER-ADDRESS is validated before any permission is
// installed, and an error installs none.
func (h *handler) createPermission(req *request, a *allocation.Allocation) []byte {
	key := &req.key
	h.peers = h.peers[:0]
	for v := range h.msg.All(stunmsg.AttrXORPeerAddress) {
		peer, err := stunmsg.DecodeXORAddress(v, h.msg.TransactionID)
		if err != nil {
			return h.errorResponse(400, key, false, req.from)
		}
		h.peers = append(h.peers, peer.Addr().Unmap())
	}
	if len(h.peers) == 0 {
		return h.errorResponse(400, key, false, req.from)
	}
	// RFC 8656 §10.2: 443 when a peer's family matches no relayed address,
	// then 403 for addresses the policy refuses.
	for _, ip := range h.peers {
		if !familyMatches(a, ip) {
			return h.errorResponse(443, key, false, req.from)
		}
	}
	for _, ip := range h.peers {
		// permitPeer: the extension decides on its own addresses, the
		// Policy on every other (extension.go).
		if err := h.s.permitPeer(a, netip.AddrPortFrom(ip, 0), false, req.now); err != nil {
			h.s.countPeerDenied(err)
			return h.errorResponse(refusalCode(err, 403), key, false, req.from)
		}
	}
	if err := a.Permit(h.peers, req.now); err != nil {
		// The only way Permit fails is the per-allocation capacity (508).
		return h.errorResponse(508, key, false, req.from)
	}
	h.successResponse(req)
	return h.finish(key)
}

// channelBind handles ChannelBind (RFC 8656 §12.2): it binds or refreshes a
// channel and installs or refreshes the permission for the peer's IP.
func (h *handler) channelBind(req *request, a *allocation.Allocation) []byte {
	key := &req.key
	chValue, okCh := h.msg.Get(stunmsg.AttrChannelNumber)
	peerValue, okPeer := h.msg.Get(stunmsg.AttrXORPeerAddress)
	if !okCh || !okPeer {
		return h.errorResponse(400, key, false, req.from)
	}
	ch, ok := stunmsg.DecodeChannelNumber(chValue)
	if !ok || !h.s.channels.Contains(ch) {
		// RFC 8656 §12.2: only 0x4000–0x4FFF can be bound (and RFC
		// 5766's 0x5000–0x7FFF when the operator opted in).
		return h.errorResponse(400, key, false, req.from)
	}
	peer, err := stunmsg.DecodeXORAddress(peerValue, h.msg.TransactionID)
	if err != nil {
		return h.errorResponse(400, key, false, req.from)
	}
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	if !familyMatches(a, peer.Addr()) {
		return h.errorResponse(443, key, false, req.from)
	}
	if err := h.s.permitPeer(a, peer, true, req.now); err != nil { // extension, then Policy
		h.s.countPeerDenied(err)
		return h.errorResponse(refusalCode(err, 403), key, false, req.from)
	}
	switch err := a.Bind(ch, peer, req.now); {
	case err == nil:
	case errors.Is(err, allocation.ErrCapacity):
		return h.errorResponse(508, key, false, req.from)
	default:
		// A number bound to another peer or a peer bound to another number.
		return h.errorResponse(400, key, false, req.from)
	}
	h.successResponse(req)
	return h.finish(key)
}
