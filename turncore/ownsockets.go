package turncore

import (
	"net/netip"

	"github.com/turnstile-relay/turnstile/peerpolicy"
)

// OwnSockets are the transport addresses at which the relay's own services
// listen: its UDP, TCP and TLS listeners and the metrics port. A relayed
// datagram to one of them would be the relay talking to itself — TURN over
// TURN, a Binding answered from the relay's own listener, a scrape of its
// metrics from outside — so no peer is ever one of them, whatever the
// Policy allows (docs/protocol.md, "The relay's own sockets"). Relayed
// ports are not here: one client reaching another's relayed address on the
// same relay is ordinary TURN.
//
// An OwnSockets is immutable once built; its methods are safe for
// concurrent use and do not allocate.
type OwnSockets struct {
	// exact are sockets bound to one address.
	exact []netip.AddrPort
	// anyPorts are the ports of sockets bound to an unspecified address,
	// which the kernel delivers to on every local address.
	anyPorts []uint16
	// local are the host's addresses (loopback as whole prefixes: the
	// kernel answers on all of 127.0.0.0/8).
	local []netip.Prefix
}

// NewOwnSockets builds the set from the bound sockets (an unspecified
// address stands for every address in local) and the host's addresses.
// Addresses are unmapped, so an IPv4-mapped socket matches its IPv4 peer.
func NewOwnSockets(sockets []netip.AddrPort, local []netip.Prefix) *OwnSockets {
	o := &OwnSockets{}
	for _, s := range sockets {
		a := s.Addr().Unmap().WithZone("")
		if !a.IsValid() {
			continue
		}
		if a.IsUnspecified() {
			o.anyPorts = append(o.anyPorts, s.Port())
			continue
		}
		o.exact = append(o.exact, netip.AddrPortFrom(a, s.Port()))
	}
	for _, p := range local {
		if p.IsValid() {
			o.local = append(o.local, netip.PrefixFrom(p.Addr().Unmap().WithZone(""), min(p.Bits(), p.Addr().Unmap().BitLen())).Masked())
		}
	}
	return o
}

// Contains reports whether a datagram to peer would reach one of the
// sockets. The peer is read as the peer policy reads it
// (peerpolicy.Normalize): unmapped, and through every IPv4 address it
// embeds, since a NAT64 or 6to4 address leads to that IPv4 address with
// the port unchanged.
func (o *OwnSockets) Contains(peer netip.AddrPort) bool {
	if o == nil {
		return false
	}
	n := peerpolicy.Normalize(peer.Addr())
	if o.containsAddr(n.Addr, peer.Port()) {
		return true
	}
	for _, e := range n.IPv4[:n.N] {
		if o.containsAddr(e, peer.Port()) {
			return true
		}
	}
	return false
}

func (o *OwnSockets) containsAddr(a netip.Addr, port uint16) bool {
	if a.IsUnspecified() {
		// Linux sends to 0.0.0.0 or :: as to the sending socket's own
		// address or loopback: this host, whichever socket holds the port.
		return o.hasPort(port)
	}
	for _, s := range o.exact {
		if s.Port() == port && s.Addr() == a {
			return true
		}
	}
	for _, p := range o.anyPorts {
		if p != port {
			continue
		}
		for _, l := range o.local {
			if l.Contains(a) {
				return true
			}
		}
	}
	return false
}

// hasPort reports whether any socket of the set listens on port.
func (o *OwnSockets) hasPort(port uint16) bool {
	for _, s := range o.exact {
		if s.Port() == port {
			return true
		}
	}
	for _, p := range o.anyPorts {
		if p == port {
			return true
		}
	}
	return false
}
