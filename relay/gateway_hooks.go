package relay

import (
	"net/netip"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/gateway"
	"github.com/turnstile-relay/turnstile/internal/mono"
)

// The gateway's hooks on the relay's peer path (gateway/doc.go, "Per
// allocation"). Each is called only for a session with gateway state
// (session.gw != nil, i.e. Config.Gateway set) and first asks the lock-free
// gatewayShell.covers, so traffic to ordinary peers — and from them, on
// allocations that never opened a gateway flow — costs a few prefix checks
// and never takes the allocation's gateway lock. On an existing flow the hooks allocate nothing (translatedAllocsScenario,
// BenchmarkGatewayTranslatedToPeer and ...ToClient).

// gatewayOutbound handles a client datagram (Send indication DATA or
// ChannelData payload, RFC 8656 §11.2, §12.6) to peer, after the relay's
// permission check on peer. It reports false when the gateway does not
// claim peer: the caller goes on with its ordinary path (default peer
// policy, send). When it reports true the datagram has been sent to the
// real IP:port, answered with an ICMP Data indication, handed to the DNS
// sentinel, or dropped, and counted. payload is only read during the call
// (a DNS query is parsed before it returns).
func (s *Server) gatewayOutbound(sess *session, peer netip.AddrPort, payload []byte, now mono.Time, sd *sender, c *counters, t transportIndex) bool {
	gs := sess.gw
	if !gs.shell.covers(peer.Addr()) {
		return false
	}
	gs.mu.Lock()
	v := gs.core.Outbound(peer, now)
	gs.afterCall()
	gs.mu.Unlock()
	c.gateway.count(v)
	switch v.Action {
	case gateway.ActionPass:
		return false
	case gateway.ActionSend:
		// The real IP has the proxy IP's family (IPv4 proxies map onto
		// A records, IPv6 ones onto AAAA), so the relayed socket the
		// permission was created for sends it.
		rs := sess.relayFor(v.Addr.Addr())
		if rs == nil {
			c.drop(DropPeerFamily)
			return true
		}
		if !rs.sendTo(payload, v.Addr, sd) {
			c.drop(DropSendFailed)
			return true
		}
		c.relayed(ToPeer, t, len(payload))
	case gateway.ActionRefuse:
		s.gatewayICMPToClient(sess, v.Addr, v.ICMP, sd, c)
	case gateway.ActionDNS:
		s.gatewayQuery(sess, v.Addr, payload, now, sd, c)
	}
	return true
}

// gatewayInbound decides on a datagram the relayed socket received from
// src (RFC 8656 §11.3, §12.7). It returns the peer address to show the
// client — the flow's proxy IP:port for a translated reply, src otherwise —
// on which the caller then runs its permission check and channel lookup,
// or ok false when the datagram must be dropped (a late reply on an
// expired flow, a source the user may not reach, a filtered port; counted
// by reason).
func (s *Server) gatewayInbound(sess *session, src netip.AddrPort, now mono.Time, c *counters) (peer netip.AddrPort, ok bool) {
	gs := sess.gw
	if !gs.engaged.Load() && !gs.shell.covers(src.Addr()) {
		return src, true
	}
	gs.mu.Lock()
	v := gs.core.Inbound(src, now)
	gs.mu.Unlock()
	c.gateway.count(v)
	switch v.Action {
	case gateway.ActionDeliver:
		return v.Addr, true
	case gateway.ActionPass:
		return src, true
	}
	return src, false
}

// gatewayInboundICMP decides on an ICMP error read from the relayed
// socket's error queue whose quoted datagram went to quoted (RFC 8656
// §11.5). The error is judged by the flow it quotes, whatever the
// resource's filters say about icmp (gateway-spec, "Errors received on
// relayed sockets"). It returns the peer address for the Data indication —
// the flow's proxy IP:port, or quoted when the gateway does not claim it —
// or ok false to drop it (no such flow, or an expired one).
func (s *Server) gatewayInboundICMP(sess *session, quoted netip.AddrPort, typ, code uint8, data uint32, now mono.Time, c *counters) (peer netip.AddrPort, ok bool) {
	gs := sess.gw
	if !gs.engaged.Load() && !gs.shell.covers(quoted.Addr()) {
		return quoted, true
	}
	gs.mu.Lock()
	v := gs.core.InboundICMP(quoted, gateway.ICMP{Type: typ, Code: code, Data: data}, now)
	gs.mu.Unlock()
	c.gateway.count(v)
	switch v.Action {
	case gateway.ActionDeliver:
		return v.Addr, true
	case gateway.ActionPass:
		return quoted, true
	}
	return quoted, false
}

// permitPeer is the peer check of CreatePermission (hasPort false) and
// ChannelBind (RFC 8656 §10.2, §12.2). On a relay with gateway, addresses
// the gateway claims are decided by it: the sentinel, proxy IPs of domains
// the user may use and addresses of CIDR resources the user may use are
// allowed without the default peer policy; other proxy-range addresses and
// resources the user may not use get 403. Every other address, and every
// address on a relay without gateway, goes to the Policy.
func (s *Server) permitPeer(a *allocation.Allocation, peer netip.AddrPort, hasPort bool, c *counters) error {
	if gs := a.Ext.(*session).gw; gs != nil && gs.shell.covers(peer.Addr()) {
		gs.mu.Lock()
		v := gs.core.Permit(peer.Addr())
		gs.mu.Unlock()
		c.gateway.count(v)
		switch v.Action {
		case gateway.ActionAllow:
			return nil
		case gateway.ActionForbid:
			return &Refusal{Code: 403, Reason: "gateway_" + v.Reason.String()}
		}
	}
	return s.policy.PermitPeer(a, peer, hasPort)
}
