package relayext

import (
	"net/netip"

	"github.com/turnstile-relay/turnstile/gateway"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/relay"
)

// The gateway's hooks on the relay's peer path (gateway/doc.go, "Per
// allocation"). Each first asks the lock-free Extension.covers, so traffic
// to ordinary peers — and from them, on allocations that never opened a
// gateway flow — costs a few prefix checks and never takes the
// allocation's lock. On an existing flow the hooks allocate nothing
// (BenchmarkGatewayTranslatedToPeer and ...ToClient).

// Outbound implements relay.AllocationExtension for a client datagram to
// peer (RFC 8656 §11.2, §12.6), after the relay's permission check on
// peer. Addresses the gateway does not claim pass (the relay goes on with
// its Policy and sends). Otherwise the datagram goes to the real IP:port,
// is answered with an ICMP Data indication or by the DNS sentinel, or is
// dropped; every verdict is counted.
func (s *session) Outbound(client relay.Client, peer netip.AddrPort, payload []byte, now mono.Time, lane int) relay.OutboundVerdict {
	if !s.x.covers(peer.Addr()) {
		return relay.OutboundVerdict{}
	}
	s.mu.Lock()
	v := s.core.Outbound(peer, now)
	s.afterCall()
	s.mu.Unlock()
	s.x.lane(lane).count(v)
	switch v.Action {
	case gateway.ActionPass:
		return relay.OutboundVerdict{}
	case gateway.ActionSend:
		// The real IP has the proxy IP's family (IPv4 proxies map onto
		// A records, IPv6 ones onto AAAA), so the relayed socket the
		// permission was created for sends it.
		return relay.OutboundVerdict{Action: relay.OutboundSend, To: v.Addr}
	case gateway.ActionRefuse:
		client.DeliverICMP(v.Addr, relay.ICMP{Type: v.ICMP.Type, Code: v.ICMP.Code, Data: v.ICMP.Data})
	case gateway.ActionDNS:
		s.query(client, v.Addr, payload, now, lane)
	}
	return relay.OutboundVerdict{Action: relay.OutboundConsumed}
}

// Inbound implements relay.AllocationExtension for a datagram the relayed
// socket received from src (RFC 8656 §11.3, §12.7): a reply on a gateway
// flow is delivered from the flow's proxy IP:port; a late reply on an
// expired flow, a source the user may not reach or a filtered port is
// dropped (counted by reason); anything else passes.
func (s *session) Inbound(src netip.AddrPort, now mono.Time, lane int) relay.InboundVerdict {
	if !s.engaged.Load() && !s.x.covers(src.Addr()) {
		return relay.InboundVerdict{}
	}
	s.mu.Lock()
	v := s.core.Inbound(src, now)
	s.mu.Unlock()
	return s.inboundVerdict(v, lane)
}

// InboundICMP implements relay.AllocationExtension for an ICMP error
// whose quoted datagram went to quoted (RFC 8656 §11.5). The error is
// judged by the flow it quotes, whatever the resource's filters say about
// icmp (gateway/doc.go), and shown from the flow's proxy IP:port; errors
// about no flow or an expired one are dropped.
func (s *session) InboundICMP(quoted netip.AddrPort, icmp relay.ICMP, now mono.Time, lane int) relay.InboundVerdict {
	if !s.engaged.Load() && !s.x.covers(quoted.Addr()) {
		return relay.InboundVerdict{}
	}
	s.mu.Lock()
	v := s.core.InboundICMP(quoted, gateway.ICMP{Type: icmp.Type, Code: icmp.Code, Data: icmp.Data}, now)
	s.mu.Unlock()
	return s.inboundVerdict(v, lane)
}

// inboundVerdict counts v and turns it into the relay's answer.
func (s *session) inboundVerdict(v gateway.Verdict, lane int) relay.InboundVerdict {
	s.x.lane(lane).count(v)
	switch v.Action {
	case gateway.ActionDeliver:
		return relay.InboundVerdict{Action: relay.InboundDeliver, As: v.Addr}
	case gateway.ActionPass:
		return relay.InboundVerdict{}
	}
	return relay.InboundVerdict{Action: relay.InboundDrop}
}

// Permit implements relay.AllocationExtension for CreatePermission and
// ChannelBind (RFC 8656 §10.2, §12.2): the sentinel, proxy IPs of domains
// the user may use and addresses of CIDR resources the user may use are
// allowed without the relay's Policy; other proxy-range addresses and
// resources the user may not use get 403 with reason "gateway_<reason>".
// Every other address is left to the Policy.
func (s *session) Permit(peer netip.AddrPort, _ bool, _ mono.Time) relay.PeerVerdict {
	if !s.x.covers(peer.Addr()) {
		return relay.PeerVerdict{}
	}
	s.mu.Lock()
	v := s.core.Permit(peer.Addr())
	s.mu.Unlock()
	s.x.shared().count(v)
	switch v.Action {
	case gateway.ActionAllow:
		return relay.PeerVerdict{Decision: relay.PermitAllow}
	case gateway.ActionForbid:
		return relay.PeerVerdict{Decision: relay.PermitForbid, Reason: "gateway_" + v.Reason.String()}
	}
	return relay.PeerVerdict{}
}

// Connect implements relay.AllocationExtension for an RFC 6062 Connect
// (§5.2): a proxy IP:port is connected to the domain's real IP of this
// moment, which the connection keeps for its life (gateway.Session.Connect);
// a CIDR resource address as it is; filtered ports and resources the user
// may not use get 403, a proxy without records 447, each with reason
// "gateway_<reason>". Every other address is left to the relay's checks.
func (s *session) Connect(peer netip.AddrPort, now mono.Time) relay.ConnectVerdict {
	if !s.x.covers(peer.Addr()) {
		return relay.ConnectVerdict{}
	}
	s.mu.Lock()
	v := s.core.Connect(peer, now)
	s.mu.Unlock()
	s.x.shared().count(v)
	switch v.Action {
	case gateway.ActionSend:
		return relay.ConnectVerdict{Decision: relay.ConnectTo, To: v.Addr}
	case gateway.ActionForbid:
		return relay.ConnectVerdict{Decision: relay.ConnectForbid, Reason: "gateway_" + v.Reason.String()}
	case gateway.ActionRefuse:
		return relay.ConnectVerdict{Decision: relay.ConnectUnreachable, Reason: "gateway_" + v.Reason.String()}
	}
	return relay.ConnectVerdict{}
}

// AcceptPeer implements relay.AllocationExtension for a peer's incoming TCP
// connection (RFC 6062 §5.3): resources are outbound only, so one from a
// gateway address is refused (gateway.Session.AcceptPeer); the relay's
// permission check decides on every other.
func (s *session) AcceptPeer(src netip.AddrPort, now mono.Time) relay.PeerVerdict {
	if !s.x.covers(src.Addr().Unmap()) {
		return relay.PeerVerdict{}
	}
	s.mu.Lock()
	v := s.core.AcceptPeer(src, now)
	s.mu.Unlock()
	s.x.shared().count(v)
	if v.Action == gateway.ActionForbid {
		return relay.PeerVerdict{Decision: relay.PermitForbid, Reason: "gateway_" + v.Reason.String()}
	}
	return relay.PeerVerdict{}
}

// Closed implements relay.AllocationExtension: the core session ends with
// its allocation, and the sweeper's entry for it goes stale.
func (s *session) Closed(mono.Time) {
	s.mu.Lock()
	s.core.Close()
	s.scheduled = 0
	s.mu.Unlock()
}
