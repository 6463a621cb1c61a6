package gateway

import (
	"net/netip"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// Session is the gateway state of one TURN allocation: the domains it holds
// proxy IPs for, its NAT table, and its ICMP rate limit. The relay creates
// one per allocation (Gateway.NewSession), asks it about every datagram,
// ICMP error, permission and DNS query of that allocation, calls Expire when
// NextDeadline passes, and calls Close when the allocation ends.
//
// A Session is a pure decision core: it does no I/O, starts no goroutines and
// reads no clock; time is the now argument (monotonic, see package mono).
// It is not safe for concurrent use: the relay serializes calls per
// allocation (its per-allocation lock). Calls with slightly out-of-order now
// values from different goroutines are tolerated. Outbound and Permit take
// peer addresses as the client wrote them (XOR-PEER-ADDRESS); Inbound and
// InboundICMP also accept the IPv4-mapped and zoned forms a socket may
// report.
//
// Methods do not retain any slice they are given. The methods for datagrams
// on existing flows (Outbound, Inbound, InboundICMP) allocate nothing.
type Session struct {
	gw      *Gateway
	user    string
	domains []domainEntry
	nat     natTable
	icmp    tokenBucket
	closed  bool
}

// domainEntry is one domain's proxy IPs on the allocation and the real IPs
// they map to for new flows. It is created by the first query for the domain
// and kept for the allocation's life, so the proxy IPs are stable.
type domainEntry struct {
	name string // normalized
	slot uint32
	// applied is the start time of the resolution whose results are mapped,
	// so that a slow, older resolution cannot overwrite a newer one.
	applied  mono.Time
	resolved bool
	// real[0][i] is the real IP for IPv4 proxy i, real[1][i] for IPv6 proxy
	// i; the zero Addr means "maps to nothing".
	real [2][ProxiesPerFamily]netip.Addr
}

// NewSession starts the gateway state of an allocation for user, the
// allocation's user as auth.Credentials.Keys gives it.
func (g *Gateway) NewSession(user string) *Session {
	return &Session{
		gw:   g,
		user: user,
		nat:  newNATTable(g.cfg.MaxFlows, g.cfg.MaxTombstones, g.cfg.TombstoneLifetime),
		icmp: newTokenBucket(g.cfg.ICMPRate, g.cfg.ICMPBurst),
	}
}

// User returns the user the session was created for.
func (s *Session) User() string { return s.user }

// Outbound decides on a datagram the client sends through the allocation
// (Send indication or ChannelData, RFC 8656 §11.2, §12.6) to peer dst. Call
// it after the relay's permission check. It returns:
//   - ActionPass: dst is not a gateway address; apply the default peer policy.
//   - ActionDNS: dst is the DNS sentinel; hand the payload to Query.
//   - ActionSend: send the payload from the relayed socket to Verdict.Addr.
//   - ActionRefuse: send nothing; give the client the ICMP error in Verdict,
//     with peer address dst. Reasons: ReasonFilterDenied, ReasonNoAccess,
//     ReasonUnknownProxy and ReasonFlowCollision get "administratively
//     prohibited" (3/13, 1/1); ReasonNoRecords gets "net/address
//     unreachable" (3/0, 1/3). The filter is checked before the records.
//   - ActionDrop: ReasonICMPRateLimited (a refusal over the rate limit),
//     ReasonFlowLimit, ReasonSentinelPort, ReasonMappedAddress, ReasonClosed.
//
// A flow collision — a new flow whose real IP:port a live flow of this
// allocation already uses, e.g. two proxy IPs of one domain, or two domains
// with the same real IP, on the same port — is refused with "administratively
// prohibited": replies from that real IP:port could not be told apart. The
// refusal lets the application fail over at once (to another address
// family, or later, once the first flow expires).
func (s *Session) Outbound(dst netip.AddrPort, now mono.Time) Verdict {
	if s.closed {
		return Verdict{Action: ActionDrop, Reason: ReasonClosed, Addr: dst}
	}
	snap := s.gw.snap.Load()
	if e := s.nat.lookupClient(dst, now); e != nil {
		switch r := s.judgeFlow(snap, e); r {
		case ReasonTranslated, ReasonDirect:
			e.sent(now)
			return Verdict{Action: ActionSend, Reason: r, Addr: e.real}
		case ReasonNotGateway:
			s.nat.remove(e) // its CIDR resource is gone: an ordinary peer now
		default:
			return s.refuse(dst, r, prohibitedFor(dst.Addr()), now)
		}
	}
	return s.openFlow(snap, dst, now)
}

// openFlow classifies a datagram that belongs to no live flow.
func (s *Session) openFlow(snap *Snapshot, dst netip.AddrPort, now mono.Time) Verdict {
	a := dst.Addr()
	switch {
	case a.Is4In6():
		if s.isGatewayAddr(snap, a.Unmap()) {
			return Verdict{Action: ActionDrop, Reason: ReasonMappedAddress, Addr: dst}
		}
		return Verdict{Action: ActionPass, Reason: ReasonNotGateway, Addr: dst}
	case s.gw.cfg.DNS.isIP(a):
		if dst.Port() == s.gw.cfg.DNS.portOf(a) {
			return Verdict{Action: ActionDNS, Reason: ReasonSentinel, Addr: dst}
		}
		return Verdict{Action: ActionDrop, Reason: ReasonSentinelPort, Addr: dst}
	case s.gw.geo.inRanges(a):
		d, i := s.domainOf(a)
		if d == nil {
			return s.refuse(dst, ReasonUnknownProxy, prohibitedFor(a), now)
		}
		real := d.real[familyIndex(a)][i]
		if r := s.judgeProxy(snap, d, real, dst.Port()); r != ReasonTranslated {
			return s.refuse(dst, r, prohibitedFor(a), now)
		}
		if !real.IsValid() {
			return s.refuse(dst, ReasonNoRecords, unreachableFor(a), now)
		}
		return s.open(snap, dst, netip.AddrPortFrom(real, dst.Port()), ReasonTranslated, now)
	}
	switch r := s.judgeDirect(snap, a, dst.Port()); r {
	case ReasonDirect:
		return s.open(snap, dst, dst, ReasonDirect, now)
	case ReasonNotGateway:
		return Verdict{Action: ActionPass, Reason: r, Addr: dst}
	default:
		return s.refuse(dst, r, prohibitedFor(a), now)
	}
}

// open creates the flow client → real, already authorized for snap.
func (s *Session) open(snap *Snapshot, client, real netip.AddrPort, r Reason, now mono.Time) Verdict {
	e, res := s.nat.open(client, real, now)
	switch res {
	case openCollision:
		return s.refuse(client, ReasonFlowCollision, prohibitedFor(client.Addr()), now)
	case openFull:
		return Verdict{Action: ActionDrop, Reason: ReasonFlowLimit, Addr: client}
	}
	e.authSnap, e.authReason = snap, r
	return Verdict{Action: ActionSend, Reason: r, Addr: real}
}

// refuse returns the ICMP refusal for dst, or a drop when the allocation's
// ICMP rate limit is exhausted.
func (s *Session) refuse(dst netip.AddrPort, r Reason, icmp ICMP, now mono.Time) Verdict {
	if !s.icmp.allow(now) {
		return Verdict{Action: ActionDrop, Reason: ReasonICMPRateLimited, Addr: dst}
	}
	return Verdict{Action: ActionRefuse, Reason: r, Addr: dst, ICMP: icmp}
}

// Inbound decides on a datagram the relayed socket received from src. It
// returns:
//   - ActionDeliver: deliver it to the client with peer address Verdict.Addr
//     (the flow's proxy IP:port, or src for a CIDR resource), after the
//     relay's permission check and channel lookup on Verdict.Addr.
//   - ActionPass: src is no gateway address and no flow of ours; the relay's
//     ordinary permission check applies.
//   - ActionDrop: ReasonExpiredFlow (a late reply), ReasonNoAccess,
//     ReasonFilterDenied (checked on the source port), ReasonProxySource,
//     ReasonClosed.
func (s *Session) Inbound(src netip.AddrPort, now mono.Time) Verdict {
	return s.inbound(src, now, false)
}

// InboundICMP decides on an ICMP error read from the relayed socket's error
// queue (RFC 8656 §11.5; the relay has already accepted its type) whose
// quoted datagram went to quotedDst. The error is judged by the flow it
// quotes, whatever the filters say about icmp, and counts as inbound
// activity for that flow (docs/gateway.md "ICMP errors"). It returns, with
// Verdict.ICMP = icmp unchanged (the MTU of a fragmentation-needed or
// packet-too-big error is the path MTU towards the resource, which is what
// the client's application needs):
//   - ActionDeliver: send the client a Data indication with
//     XOR-PEER-ADDRESS = Verdict.Addr and ICMP = Verdict.ICMP.
//   - ActionPass: quotedDst is not a gateway address; ordinary §11.5 rules.
//   - ActionDrop: ReasonNoFlow (a gateway address, or a real IP the
//     allocation's proxies map to, that no live flow uses),
//     ReasonExpiredFlow, ReasonNoAccess, ReasonFilterDenied, ReasonClosed.
func (s *Session) InboundICMP(quotedDst netip.AddrPort, icmp ICMP, now mono.Time) Verdict {
	v := s.inbound(quotedDst, now, true)
	v.ICMP = icmp
	return v
}

func (s *Session) inbound(src netip.AddrPort, now mono.Time, isICMP bool) Verdict {
	if s.closed {
		return Verdict{Action: ActionDrop, Reason: ReasonClosed, Addr: src}
	}
	src = canonical(src)
	snap := s.gw.snap.Load()
	e, state := s.nat.lookupReal(src, now)
	switch state {
	case entryLive:
		switch r := s.judgeFlow(snap, e); r {
		case ReasonTranslated, ReasonDirect:
			e.received(now)
			return Verdict{Action: ActionDeliver, Reason: r, Addr: e.client}
		case ReasonNotGateway:
			s.nat.remove(e)
		default:
			return Verdict{Action: ActionDrop, Reason: r, Addr: src}
		}
	case entryTomb:
		return Verdict{Action: ActionDrop, Reason: ReasonExpiredFlow, Addr: src}
	}
	a := src.Addr()
	if s.gw.cfg.DNS.isIP(a) || s.gw.geo.inRanges(a) {
		if isICMP {
			return Verdict{Action: ActionDrop, Reason: ReasonNoFlow, Addr: src}
		}
		return Verdict{Action: ActionDrop, Reason: ReasonProxySource, Addr: src}
	}
	r := s.judgeDirect(snap, a, src.Port())
	switch {
	case r == ReasonNotGateway && isICMP && s.mapsTo(a):
		return Verdict{Action: ActionDrop, Reason: ReasonNoFlow, Addr: src}
	case r == ReasonNotGateway:
		return Verdict{Action: ActionPass, Reason: r, Addr: src}
	case isICMP:
		return Verdict{Action: ActionDrop, Reason: ReasonNoFlow, Addr: src}
	case r == ReasonDirect:
		return Verdict{Action: ActionDeliver, Reason: r, Addr: src}
	default:
		return Verdict{Action: ActionDrop, Reason: r, Addr: src}
	}
}

// Permit decides on CreatePermission or ChannelBind for peer (RFC 8656 §10.2,
// §12.2; ports are ignored, §9). It returns ActionAllow for the sentinel, for
// a proxy IP of a domain the user may use (ReasonProxy) and for an address in
// a CIDR resource the user may use (ReasonDirect); ActionForbid (answer 403)
// for other proxy-range addresses (ReasonUnknownProxy), for resources the
// user may not use (ReasonNoAccess) and for IPv4-mapped forms of gateway
// addresses; ActionPass otherwise (apply the default peer policy).
func (s *Session) Permit(peer netip.Addr) Verdict {
	ap := netip.AddrPortFrom(peer, 0)
	if s.closed {
		return Verdict{Action: ActionForbid, Reason: ReasonClosed, Addr: ap}
	}
	switch r, _, _ := s.judgePeer(s.gw.snap.Load(), peer); r {
	case ReasonNotGateway:
		return Verdict{Action: ActionPass, Reason: r, Addr: ap}
	case ReasonSentinel, ReasonProxy, ReasonDirect:
		return Verdict{Action: ActionAllow, Reason: r, Addr: ap}
	default:
		return Verdict{Action: ActionForbid, Reason: r, Addr: ap}
	}
}

// Expire retires flows whose lifetime ended and forgets old tombstones. The
// relay calls it from its deadline queue once NextDeadline has passed;
// calling it more often is harmless and cheap. Decisions never depend on
// whether Expire ran: lookups treat overdue flows as expired.
func (s *Session) Expire(now mono.Time) {
	if !s.closed {
		s.nat.expire(now)
	}
}

// NextDeadline returns when Expire next has work to do; ok is false when the
// session holds no flows or tombstones. It may move earlier after a call
// that opens a flow, so the relay re-reads it after each batch.
func (s *Session) NextDeadline() (t mono.Time, ok bool) {
	t = s.nat.nextDeadline()
	return t, t != noDeadline && !s.closed
}

// Close frees the session's state when its allocation ends. Later calls
// return ActionDrop (ActionForbid for Permit) with ReasonClosed.
func (s *Session) Close() {
	s.closed = true
	s.nat = natTable{next: noDeadline}
	s.domains = nil
}

// judgeFlow authorizes a live flow against snap, caching the answer per
// snapshot so that a datagram on an existing flow costs one comparison.
func (s *Session) judgeFlow(snap *Snapshot, e *natEntry) Reason {
	if e.authSnap == snap {
		return e.authReason
	}
	var r Reason
	if e.isDirect() {
		r = s.judgeDirect(snap, e.real.Addr(), e.real.Port())
	} else {
		d, _ := s.domainOf(e.client.Addr()) // proxy IPs stay assigned: never nil
		r = s.judgeProxy(snap, d, e.real.Addr(), e.client.Port())
	}
	e.authSnap, e.authReason = snap, r
	return r
}

// judgeProxy authorizes UDP on port through a proxy IP of d that maps to
// real (invalid if none): ReasonTranslated, ReasonNoAccess or
// ReasonFilterDenied.
func (s *Session) judgeProxy(snap *Snapshot, d *domainEntry, real netip.Addr, port uint16) Reason {
	switch {
	case !snap.domainAccess(d.name, s.user):
		return ReasonNoAccess
	case !snap.permitsProxy(d.name, real, s.user, port):
		return ReasonFilterDenied
	}
	return ReasonTranslated
}

// judgeDirect authorizes UDP on port to or from a, without translation:
// ReasonDirect, ReasonNotGateway (a is in no CIDR resource), ReasonNoAccess
// or ReasonFilterDenied.
func (s *Session) judgeDirect(snap *Snapshot, a netip.Addr, port uint16) Reason {
	covered, allowed := snap.cidrAccess(a, s.user)
	switch {
	case !covered:
		return ReasonNotGateway
	case !allowed:
		return ReasonNoAccess
	case !snap.permitsDirect(a, s.user, port), neverReachableAddr(a):
		// A resource may cover a translator's prefix (64:ff9b::/96); the
		// IPv4 addresses it embeds must still be reachable.
		return ReasonFilterDenied
	}
	return ReasonDirect
}

// judgePeer sorts a peer address as the client wrote it (XOR-PEER-ADDRESS)
// for Permit and Connect, so that both refuse the same addresses for the same
// reasons: ReasonMappedAddress, ReasonUnknownProxy or ReasonNoAccess to
// refuse; ReasonNotGateway for an address the default peer policy decides on;
// ReasonSentinel; ReasonProxy, with the domain and the proxy's index in its
// family, for a proxy IP the user may use; ReasonDirect for an address in a
// CIDR resource the user may use. Ports and filters are the caller's.
func (s *Session) judgePeer(snap *Snapshot, a netip.Addr) (Reason, *domainEntry, int) {
	switch {
	case a.Is4In6():
		if s.isGatewayAddr(snap, a.Unmap()) {
			return ReasonMappedAddress, nil, 0
		}
		return ReasonNotGateway, nil, 0
	case s.gw.cfg.DNS.isIP(a):
		return ReasonSentinel, nil, 0
	case s.gw.geo.inRanges(a):
		d, i := s.domainOf(a)
		switch {
		case d == nil:
			return ReasonUnknownProxy, nil, 0
		case !snap.domainAccess(d.name, s.user):
			return ReasonNoAccess, nil, 0
		}
		return ReasonProxy, d, i
	}
	switch covered, allowed := snap.cidrAccess(a, s.user); {
	case !covered:
		return ReasonNotGateway, nil, 0
	case !allowed:
		return ReasonNoAccess, nil, 0
	}
	return ReasonDirect, nil, 0
}

// isGatewayAddr reports whether a means something to the gateway.
func (s *Session) isGatewayAddr(snap *Snapshot, a netip.Addr) bool {
	if s.gw.cfg.DNS.isIP(a) || s.gw.geo.inRanges(a) {
		return true
	}
	covered, _ := snap.cidrAccess(a, s.user)
	return covered
}

// domainOf returns the domain a proxy IP belongs to on this allocation and
// the proxy's index in its family, or nil.
func (s *Session) domainOf(a netip.Addr) (*domainEntry, int) {
	slot, i, ok := s.gw.geo.locate(a)
	if !ok {
		return nil, 0
	}
	for k := range s.domains {
		if s.domains[k].slot == slot {
			return &s.domains[k], i
		}
	}
	return nil, 0
}

// mapsTo reports whether some proxy IP of the allocation maps to the real
// IP a. It scans the domains (at most Config.MaxDomains); only ICMP errors
// quoting no flow get here.
func (s *Session) mapsTo(a netip.Addr) bool {
	for k := range s.domains {
		for _, fam := range &s.domains[k].real {
			for _, r := range fam {
				if r == a {
					return true
				}
			}
		}
	}
	return false
}

// familyIndex is 0 for IPv4, 1 for IPv6 (domainEntry.real).
func familyIndex(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

// canonical strips what the kernel may add to a peer address but the
// gateway never stores: the IPv4-mapped form (dual-stack sockets) and zones.
func canonical(ap netip.AddrPort) netip.AddrPort {
	if a := ap.Addr(); a.Is4In6() || a.Zone() != "" {
		return netip.AddrPortFrom(a.Unmap().WithZone(""), ap.Port())
	}
	return ap
}
