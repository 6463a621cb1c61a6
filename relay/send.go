package relay

import (
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/turncore"
)

// toPeer sends the DATA of a Send indication the core let through (RFC
// 8656 §11.2): the extension may claim the datagram; otherwise the Policy
// and the allocation's relayed address of the peer's family decide. Every
// failure is silent, as the RFC requires, and counted.
func (h *handler) toPeer(from *clientPath, act *turncore.Action, now mono.Time) {
	sess := act.Alloc.Ext.(*session)
	// Extension hook: what the extension claims bypasses the Policy.
	if sess.tcp != nil {
		// A TCP allocation has no datagram socket (RFC 6062 §5.1): only
		// what the extension answers itself (the gateway's DNS sentinel)
		// comes here, and nothing is sent.
		if sess.ext == nil || sess.ext.Outbound(sess, act.Peer, act.Data, now, h.c.lane).Action != OutboundConsumed {
			h.c.drop(turncore.DropTCPAllocation)
		}
		return
	}
	if sess.ext != nil && h.s.extOutbound(sess, act.Peer, act.Data, now, &h.sender, h.c, from.transport()) {
		return
	}
	if drop, ok := h.s.core.PermitSend(act.Alloc, act.Peer); !ok {
		h.c.drop(drop)
		return
	}
	rs := sess.relayFor(act.Peer.Addr())
	if rs == nil {
		h.c.drop(DropPeerFamily)
		return
	}
	h.sender.toPeer(rs, act.Data, act.Peer, h.c, from.transport())
}
