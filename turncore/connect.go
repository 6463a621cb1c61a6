package turncore

import (
	"net/netip"
	"time"

	"github.com/turnstile-relay/turnstile/auth"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// isStream reports whether ft's transport is a TCP or TLS connection, the
// only control (and data) connections of TCP relaying (RFC 6062 §5.1, §5.4).
func isStream(ft allocation.FiveTuple) bool {
	return ft.Transport == allocation.TransportTCP || ft.Transport == allocation.TransportTLS
}

// connect handles a Connect request on a's control connection (RFC 6062
// §5.2). The checks run in the RFC's order; what passes becomes an
// ActConnect, and the response waits for the shell's Core.ConnectDone (or
// the connect timeout, which answers 447 from Expire).
func (p *Processor) connect(req *request, a *allocation.Allocation) []byte {
	key := &req.key
	if !stateOf(a).tcp {
		// A UDP allocation has no TCP relayed address to connect from
		// (coturn answers 403 too).
		return p.errorResponse(403, key, false, req)
	}
	v, ok := p.msg.Get(stunmsg.AttrXORPeerAddress)
	if !ok {
		return p.errorResponse(400, key, false, req)
	}
	peer, err := stunmsg.DecodeXORAddress(v, p.msg.TransactionID)
	if err != nil || peer.Port() == 0 {
		return p.errorResponse(400, key, false, req)
	}
	peer = peerAddr(peer)
	if !familyMatches(a, peer.Addr()) {
		return p.errorResponse(443, key, false, req)
	}
	if p.c.draining.Load() {
		// Draining refuses new connections; open ones keep relaying.
		return p.errorResponse(403, key, false, req)
	}
	// The peer is checked exactly as for CreatePermission and ChannelBind
	// (RFC 6062 §5.2: 403 for a connection local policy forbids), unless
	// the extension claims it.
	to, err := p.connectPeer(a, peer, req)
	if err != nil {
		p.res.Outcome.PeerDenied = err
		return p.errorResponse(RefusalCode(err, 403), key, false, req)
	}
	t := p.c.tcp
	cfg := &p.c.cfg.TCP
	t.mu.Lock()
	if _, exists := t.byPeer[peerKey{a, peer}]; exists {
		// RFC 6062 §5.2: one connection per peer address, pending or
		// active.
		t.mu.Unlock()
		return p.errorResponse(446, key, false, req)
	}
	if !t.roomLocked(cfg, a) {
		t.mu.Unlock()
		return p.errorResponse(508, key, false, req)
	}
	// The connection implies a permission for the peer's IP, so that its
	// later connections (§5.3) and the policy's view agree (RFC 6062 §5.2).
	if err := a.Permit(append(p.peers[:0], peer.Addr()), req.now); err != nil {
		t.mu.Unlock()
		return p.errorResponse(508, key, false, req)
	}
	conn := &tcpConn{
		alloc:    a,
		peer:     peer,
		state:    connConnecting,
		deadline: req.now.Add(cfg.ConnectTimeout),
		index:    -1,
		answer: deferredAnswer{
			txID:        p.msg.TransactionID,
			key:         req.key,
			sha256:      p.msg.IntegritySHA256At >= 0,
			fingerprint: p.msg.FingerprintAt >= 0,
		},
	}
	t.addLocked(cfg, conn)
	t.mu.Unlock()
	p.act(Action{Kind: ActPermitted, Alloc: a, Peer: netip.AddrPortFrom(peer.Addr(), 0)})
	p.act(Action{Kind: ActConnect, Alloc: a, Peer: peer, To: to, Conn: conn.id})
	// Counted when it is answered (ConnectDone or the timeout).
	return nil
}

// connectPeer decides on a Connect's peer and returns the address to
// connect to: the extension's translation when it claims peer, else peer
// after permitPeer. The relay's own sockets are refused either way, as the
// translated destinations of datagrams are (RFC 8656 §10.2 lets a server
// restrict peers).
func (p *Processor) connectPeer(a *allocation.Allocation, peer netip.AddrPort, req *request) (netip.AddrPort, error) {
	if p.c.OwnSocket(peer) {
		return peer, errOwnSocket
	}
	if h := stateOf(a).hook; h != nil {
		if to, decided, err := h.ConnectPeer(peer, req.now); decided {
			if err == nil && p.c.OwnSocket(to) {
				err = errOwnSocket
			}
			return to, err
		}
	}
	return peer, p.permitPeer(a, peer, true, req)
}

// connectionBind handles a ConnectionBind on a new client data connection
// (RFC 6062 §5.4): the CONNECTION-ID must name a connection waiting for its
// bind, made by an allocation of the same user (the quota user the Policy
// named, so a TURN REST client with fresh credentials still binds); the ID is spent by a
// successful bind. Anything else is 400, which tells another user nothing
// about whether the ID exists.
func (p *Processor) connectionBind(req *request) []byte {
	key := &req.key
	if !isStream(req.ft) || p.c.cfg.Table.Lookup(req.ft, req.now) != nil {
		// RFC 6062 §5.4: a data connection is a TCP or TLS connection
		// of its own, not a control connection.
		return p.errorResponse(400, key, false, req)
	}
	v, ok := p.msg.Get(stunmsg.AttrConnectionID)
	if !ok {
		return p.errorResponse(400, key, false, req)
	}
	raw, ok := stunmsg.DecodeUint32(v)
	if !ok {
		return p.errorResponse(400, key, false, req)
	}
	t := p.c.tcp
	t.mu.Lock()
	conn := t.byID[ConnID(raw)]
	if conn == nil || conn.state != connPending || conn.deadline <= req.now || conn.alloc.User != req.user {
		t.mu.Unlock()
		return p.errorResponse(400, key, false, req)
	}
	conn.state = connBound
	t.unboundDoneLocked(conn)
	t.mu.Unlock()
	p.act(Action{Kind: ActConnectionBound, Alloc: conn.alloc, Conn: conn.id, Handle: conn.handle, Peer: conn.peer})
	p.successResponse()
	return p.finish(key)
}

// nonceAddress is the client address a request's NONCE is checked
// against: its own, except for a ConnectionBind whose nonce the client got
// on its control connection. RFC 6062 §5.4 sends the bind on a new
// connection with the allocation's credentials, and clients (pion, coturn)
// reuse the control connection's nonce, which is bound to that
// connection's address (auth.Nonces). So a ConnectionBind naming a pending
// connection may present a nonce minted for its allocation's control
// address when it comes from the same IP; the nonce still proves that this
// host was challenged recently, and MESSAGE-INTEGRITY is checked as ever.
func (p *Processor) nonceAddress(client netip.AddrPort, nonce []byte, wall time.Time) netip.AddrPort {
	if p.msg.Method != stunmsg.ConnectionBind || !p.c.cfg.TCP.Enabled {
		return client
	}
	v, ok := p.msg.Get(stunmsg.AttrConnectionID)
	if !ok {
		return client
	}
	raw, ok := stunmsg.DecodeUint32(v)
	if !ok {
		return client
	}
	t := p.c.tcp
	t.mu.Lock()
	conn := t.byID[ConnID(raw)]
	var control netip.AddrPort
	if conn != nil {
		control = conn.alloc.FiveTuple.Client
	}
	t.mu.Unlock()
	if conn == nil || control.Addr() != client.Addr().Unmap() ||
		p.c.cfg.Nonces.Check(nonce, control, wall) != auth.NonceValid {
		return client
	}
	return control
}

// tcpAllocateParams checks an Allocate for TCP (RFC 6062 §5.1): only on a
// TCP or TLS control connection, and without the attributes that describe
// datagram sockets (DONT-FRAGMENT, EVEN-PORT, RESERVATION-TOKEN), each 400.
// REQUESTED-ADDRESS-FAMILY picks the family; a dual allocation
// (ADDITIONAL-ADDRESS-FAMILY, RFC 8656 §7.2 step 9) is not offered for TCP,
// whose relayed address is one listening socket: 400 as well.
func (p *Processor) tcpAllocateParams(ft allocation.FiveTuple) (allocateParams, int) {
	m := &p.msg
	ap := allocateParams{tcp: true}
	if !isStream(ft) {
		return ap, 400
	}
	for _, t := range [...]uint16{
		stunmsg.AttrDontFragment, stunmsg.AttrEvenPort, stunmsg.AttrReservationToken,
		stunmsg.AttrAdditionalAddressFamily,
	} {
		if m.Contains(t) {
			return ap, 400
		}
	}
	v, has := m.Get(stunmsg.AttrRequestedAddressFamily)
	return ap, p.requestedFamily(&ap, v, has)
}
