package relay

import (
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// handleIndication processes an indication from a client. Indications are
// never answered and never authenticated (RFC 8656 §5).
func (h *handler) handleIndication(from *clientPath, now mono.Time) {
	m := &h.msg
	switch m.Method {
	case stunmsg.Binding:
		// RFC 8489 §6.3.2: a Binding indication only keeps NAT bindings
		// alive; nothing to do.
		return
	case stunmsg.Send:
		h.send(from, now)
	default:
		h.c.drop(DropUnexpectedClass)
	}
}

// send relays the DATA of a Send indication to its peer (RFC 8656 §11.2).
// Every failure is silent, as the RFC requires, and counted.
func (h *handler) send(from *clientPath, now mono.Time) {
	m := &h.msg
	a := h.s.table.Lookup(from.ft, now)
	if a == nil {
		h.c.drop(DropNoAllocation)
		return
	}
	// RFC 8489 §6.3.2: an indication with an unknown comprehension-required
	// attribute is discarded.
	if h.unknown = m.UnknownRequired(h.unknown[:0]); len(h.unknown) > 0 {
		h.c.drop(DropSendUnknownAttr)
		return
	}
	peerValue, okPeer := m.Get(stunmsg.AttrXORPeerAddress)
	data, okData := m.Get(stunmsg.AttrData)
	if !okPeer || !okData {
		h.c.drop(DropSendMalformed)
		return
	}
	peer, err := stunmsg.DecodeXORAddress(peerValue, m.TransactionID)
	if err != nil {
		h.c.drop(DropSendMalformed)
		return
	}
	peer = peerAddr(peer)
	sess := a.Ext.(*session)
	// RFC 8656 §11.2: DONT-FRAGMENT the server cannot honour makes the
	// indication unprocessable. Our sockets set DF per allocation, when the
	// Allocate asked for it.
	if m.Contains(stunmsg.AttrDontFragment) && !sess.dontFragment {
		h.c.drop(DropSendDontFragment)
		return
	}
	if !a.Permitted(peer.Addr(), now) {
		h.c.drop(DropNoPermission)
		return
	}
	// Extension hook: what the extension claims bypasses the Policy.
	if sess.ext != nil && h.s.extOutbound(sess, peer, data, now, &h.sender, h.c, from.transport()) {
		return
	}
	if err := h.s.policy.PermitPeer(a, peer, true); err != nil {
		h.c.drop(DropPeerDenied)
		return
	}
	rs := sess.relayFor(peer.Addr())
	if rs == nil {
		h.c.drop(DropPeerFamily)
		return
	}
	h.sender.toPeer(rs, data, peer, h.c, from.transport())
}
