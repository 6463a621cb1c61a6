package relay

import (
	"net"
	"net/netip"

	"github.com/turnstile-relay/turnstile/turncore"
)

// Loopback ranges on which the kernel answers whatever the interfaces say:
// a socket bound to an unspecified address is reachable on all of them.
var loopbackPrefixes = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
}

// ownSockets collects where this relay listens, once every listener is
// bound: its UDP, TCP and TLS listeners and Config.OwnServices, each also
// at every external IP (a 1:1 NAT sends a datagram to the external IP and
// the listener's port back to the listener), and the host's addresses for
// listeners on an unspecified address. The host's addresses are read once,
// here: an address added to an interface later is not covered for
// unspecified listeners (the daemon's listeners are never unspecified,
// package config refuses that; only its metrics listener may be).
func (s *Server) ownSockets() *turncore.OwnSockets {
	sockets := append([]netip.AddrPort(nil), s.udp...)
	sockets = append(sockets, s.StreamAddrs()...)
	sockets = append(sockets, s.cfg.OwnServices...)
	listening := len(sockets)
	for _, ext := range s.cfg.ExternalIPs {
		for _, sock := range sockets[:listening] {
			sockets = append(sockets, netip.AddrPortFrom(ext.Unmap(), sock.Port()))
		}
	}
	local := append([]netip.Prefix(nil), loopbackPrefixes...)
	for _, ip := range append(append([]netip.Addr(nil), s.cfg.RelayIPs...), s.cfg.ExternalIPs...) {
		local = append(local, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
	}
	local = append(local, interfaceAddrs(s)...)
	return turncore.NewOwnSockets(sockets, local)
}

// interfaceAddrs returns the host's interface addresses as single-address
// prefixes. Failing to read them leaves unspecified listeners covered on
// loopback and the relay IPs only, which is said once in the log.
func interfaceAddrs(s *Server) []netip.Prefix {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		s.log.Warn("reading the host's addresses failed; peers on them may reach listeners bound to an unspecified address",
			"error", err.Error())
		return nil
	}
	out := make([]netip.Prefix, 0, len(addrs))
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				ip = ip.Unmap()
				out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
			}
		}
	}
	return out
}
