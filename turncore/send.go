package turncore

import (
	"net/netip"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// indication processes an indication from a client. Indications are never
// answered and never authenticated (RFC 8656 §5).
func (p *Processor) indication(ft allocation.FiveTuple, now mono.Time) {
	switch p.msg.Method {
	case stunmsg.Binding:
		// RFC 8489 §6.3.2: a Binding indication only keeps NAT bindings
		// alive; nothing to do.
	case stunmsg.Send:
		p.send(ft, now)
	default:
		p.act(Action{Kind: ActDrop, Drop: DropUnexpectedClass})
	}
}

// send relays the DATA of a Send indication to its peer (RFC 8656 §11.2).
// Every failure is silent, as the RFC requires, and counted. What passes
// becomes an ActToPeer, which the shell completes with PermitSend.
func (p *Processor) send(ft allocation.FiveTuple, now mono.Time) {
	m := &p.msg
	a := p.c.cfg.Table.Lookup(ft, now)
	if a == nil {
		p.act(Action{Kind: ActDrop, Drop: DropNoAllocation})
		return
	}
	// RFC 8489 §6.3.2: an indication with an unknown comprehension-required
	// attribute is discarded.
	if p.unknown = p.unknownRequired(); len(p.unknown) > 0 {
		p.act(Action{Kind: ActDrop, Drop: DropSendUnknownAttr})
		return
	}
	if stateOf(a).tcp && stateOf(a).hook == nil {
		// RFC 6062 §5.1: a TCP allocation relays over peer data
		// connections only; it has no datagram socket to send from. With
		// an extension the indication goes on to the shell, which lets
		// the extension answer it (the gateway's DNS sentinel gives a
		// TCP allocation its proxy IPs) and drops the rest.
		p.act(Action{Kind: ActDrop, Drop: DropTCPAllocation})
		return
	}
	peerValue, okPeer := m.Get(stunmsg.AttrXORPeerAddress)
	data, okData := m.Get(stunmsg.AttrData)
	if !okPeer || !okData {
		p.act(Action{Kind: ActDrop, Drop: DropSendMalformed})
		return
	}
	peer, err := stunmsg.DecodeXORAddress(peerValue, m.TransactionID)
	if err != nil {
		p.act(Action{Kind: ActDrop, Drop: DropSendMalformed})
		return
	}
	peer = peerAddr(peer)
	// RFC 8656 §11.2: DONT-FRAGMENT the server cannot honour makes the
	// indication unprocessable. Our sockets set DF per allocation, when the
	// Allocate asked for it.
	if m.Contains(stunmsg.AttrDontFragment) && !stateOf(a).dontFragment {
		p.act(Action{Kind: ActDrop, Drop: DropSendDontFragment})
		return
	}
	if !a.Permitted(peer.Addr(), now) {
		p.act(Action{Kind: ActDrop, Drop: DropNoPermission})
		return
	}
	// Before the extension and the Policy: no one may make the relay send
	// to its own listeners or metrics port (OwnSockets).
	if p.c.OwnSocket(peer) {
		p.act(Action{Kind: ActDrop, Drop: DropPeerOwnSocket})
		return
	}
	p.act(Action{Kind: ActToPeer, Alloc: a, Peer: peer, Data: data})
}

// PermitSend is the last check on a Send indication's datagram that the
// extension did not claim: the Policy may refuse the peer (RFC 8656
// §11.2), and the allocation must still have a relayed address of the
// peer's family. ok false comes with the drop to count.
func (c *Core) PermitSend(a *allocation.Allocation, peer netip.AddrPort) (Drop, bool) {
	if err := c.cfg.Policy.PermitPeer(a, peer, true); err != nil {
		return DropPeerDenied, false
	}
	if !familyMatches(a, peer.Addr()) {
		return DropPeerFamily, false
	}
	return 0, true
}
