package gateway

import (
	"net/netip"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// Connect decides on an RFC 6062 Connect (§5.2) of the allocation to dst,
// the XOR-PEER-ADDRESS as the client wrote it. A TCP connection needs no NAT
// entry: its socket is bound to the real IP:port chosen here for its whole
// life, while the next Connect to the same proxy IP follows the domain's
// current mapping (docs/gateway.md "TCP resources"). It returns:
//   - ActionPass: dst is no gateway address; the relay's Policy decides.
//   - ActionSend: connect to Verdict.Addr (the proxy's current real IP on
//     dst's port, ReasonTranslated; or dst itself inside a CIDR resource,
//     ReasonDirect) without asking the Policy.
//   - ActionForbid (answer 403): ReasonFilterDenied (no tcp filter of an
//     applicable resource covers the port), ReasonNoAccess,
//     ReasonUnknownProxy, ReasonSentinel (the DNS sentinel is UDP only),
//     ReasonMappedAddress, ReasonClosed.
//   - ActionRefuse (answer 447, RFC 6062 §5.2): ReasonNoRecords, the proxy
//     maps to no real IP of its family, so there is nothing to connect to.
//
// The filter is checked before the records, as for datagrams.
func (s *Session) Connect(dst netip.AddrPort, _ mono.Time) Verdict {
	if s.closed {
		return Verdict{Action: ActionForbid, Reason: ReasonClosed, Addr: dst}
	}
	snap := s.gw.snap.Load()
	a := dst.Addr()
	r, d, i := s.judgePeer(snap, a)
	switch r {
	case ReasonNotGateway:
		return Verdict{Action: ActionPass, Reason: r, Addr: dst}
	case ReasonProxy:
		real := d.real[familyIndex(a)][i]
		if !snap.permitsProxyTCP(d.name, real, s.user, dst.Port()) {
			return Verdict{Action: ActionForbid, Reason: ReasonFilterDenied, Addr: dst}
		}
		if !real.IsValid() {
			return Verdict{Action: ActionRefuse, Reason: ReasonNoRecords, Addr: dst}
		}
		return Verdict{Action: ActionSend, Reason: ReasonTranslated, Addr: netip.AddrPortFrom(real, dst.Port())}
	case ReasonDirect:
		if !snap.permitsDirectTCP(a, s.user, dst.Port()) || neverReachableAddr(a) {
			// As for datagrams (judgeDirect): a resource covering a
			// translator's prefix does not open the addresses it embeds.
			return Verdict{Action: ActionForbid, Reason: ReasonFilterDenied, Addr: dst}
		}
		return Verdict{Action: ActionSend, Reason: r, Addr: dst}
	default:
		// The sentinel too: it answers DNS over UDP only.
		return Verdict{Action: ActionForbid, Reason: r, Addr: dst}
	}
}

// AcceptPeer decides on a TCP connection a peer opened to the allocation's
// relayed TCP address (RFC 6062 §5.3). Resources are destinations the user
// may reach, not sources that may reach the user (docs/gateway.md "TCP
// resources"): a connection from an address inside a CIDR resource, the
// proxy ranges or the sentinel is refused with ActionForbid
// (ReasonProxySource for gateway addresses, ReasonNoAccess inside a CIDR
// resource), whatever permission the client installed; any other source is
// ActionPass and the relay's ordinary permission check decides.
func (s *Session) AcceptPeer(src netip.AddrPort, _ mono.Time) Verdict {
	src = canonical(src)
	if s.closed {
		return Verdict{Action: ActionForbid, Reason: ReasonClosed, Addr: src}
	}
	snap := s.gw.snap.Load()
	a := src.Addr()
	switch {
	case s.gw.cfg.DNS.isIP(a), s.gw.geo.inRanges(a):
		return Verdict{Action: ActionForbid, Reason: ReasonProxySource, Addr: src}
	}
	if covered, _ := snap.cidrAccess(a, s.user); covered {
		return Verdict{Action: ActionForbid, Reason: ReasonNoAccess, Addr: src}
	}
	return Verdict{Action: ActionPass, Reason: ReasonNotGateway, Addr: src}
}

// permitsProxyTCP is permitsProxy for a TCP connection to port.
func (s *Snapshot) permitsProxyTCP(name string, real netip.Addr, user string, port uint16) bool {
	permits := func(c *compiledResource) bool { return c.usableBy(user) && c.Filters.PermitsTCP(port) }
	return s.forDomain(name, permits) || (real.IsValid() && s.forCIDR(real, permits))
}

// permitsDirectTCP is permitsDirect for a TCP connection to port.
func (s *Snapshot) permitsDirectTCP(a netip.Addr, user string, port uint16) bool {
	return s.forCIDR(a, func(c *compiledResource) bool { return c.usableBy(user) && c.Filters.PermitsTCP(port) })
}
