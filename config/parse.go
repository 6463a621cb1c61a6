package config

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file turns the text of one variable into a typed value, recording a
// problem (and returning the zero value) when the text is not acceptable.

// items splits a comma-separated list, trimming spaces around items. Empty
// text is an empty list; an empty item is a problem. Values of secret lists
// are never shown.
func (p *problems) items(name, text string, secret bool) []string {
	if strings.TrimSpace(text) == "" {
		return nil
	}
	parts := strings.Split(text, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
		if parts[i] == "" {
			if secret {
				p.addSecret(name, "item %d of %d is empty", i+1, len(parts))
			} else {
				p.add(name, text, "item %d of %d is empty", i+1, len(parts))
			}
			return nil
		}
	}
	return parts
}

// addrUse says where an address may be used.
type addrUse uint8

const (
	// useSpecific: a listener, relay IP or alternate server, which must
	// name one address of one host.
	useSpecific addrUse = iota
	// useAnyHost: a plain HTTP listener, which may be unspecified.
	useAnyHost
)

// checkAddr records why a cannot be used as use, if it cannot.
func (p *problems) checkAddr(name, item string, a netip.Addr, use addrUse) bool {
	switch {
	case a.Zone() != "":
		p.add(name, item, "addresses with an IPv6 zone are not supported")
	case a.Is4In6():
		p.add(name, item, "IPv4-mapped address; write the IPv4 form %s", a.Unmap())
	case a.IsMulticast():
		p.add(name, item, "multicast address")
	case use == useSpecific && a.IsUnspecified():
		p.add(name, item, "unspecified address: the relay must know the server address of every "+
			"5-tuple (RFC 8656 §2); list the host's addresses instead")
	default:
		return true
	}
	return false
}

// addrPorts parses a list of ip:port. Ports must be non-zero and entries
// distinct.
func (p *problems) addrPorts(name, text string, use addrUse) []netip.AddrPort {
	var out []netip.AddrPort
	for _, item := range p.items(name, text, false) {
		ap, ok := p.addrPort(name, item, use)
		if !ok {
			continue
		}
		if slices.Contains(out, ap) {
			p.add(name, item, "listed twice")
			continue
		}
		out = append(out, ap)
	}
	return out
}

// addrPort parses one ip:port.
func (p *problems) addrPort(name, item string, use addrUse) (netip.AddrPort, bool) {
	ap, err := netip.ParseAddrPort(item)
	if err != nil {
		p.add(name, item, "not an ip:port (IPv6 in brackets, e.g. [2001:db8::1]:3478)")
		return netip.AddrPort{}, false
	}
	if !p.checkAddr(name, item, ap.Addr(), use) {
		return netip.AddrPort{}, false
	}
	if ap.Port() == 0 {
		p.add(name, item, "port 0 is not a port to listen on or to send to")
		return netip.AddrPort{}, false
	}
	return ap, true
}

// addrs parses a list of distinct specific IP addresses.
func (p *problems) addrs(name, text string) []netip.Addr {
	var out []netip.Addr
	for _, item := range p.items(name, text, false) {
		a, err := netip.ParseAddr(item)
		if err != nil {
			p.add(name, item, "not an IP address")
			continue
		}
		if !p.checkAddr(name, item, a, useSpecific) {
			continue
		}
		if slices.Contains(out, a) {
			p.add(name, item, "listed twice")
			continue
		}
		out = append(out, a)
	}
	return out
}

// prefixes parses a list of CIDR prefixes; a bare address is a prefix of
// one address. Host bits must be zero: 10.1.2.3/8 is more likely a typo for
// 10.1.2.3/32 than a way to write 10.0.0.0/8.
func (p *problems) prefixes(name, text string) []netip.Prefix {
	var out []netip.Prefix
	for _, item := range p.items(name, text, false) {
		var pfx netip.Prefix
		if a, err := netip.ParseAddr(item); err == nil && a.Zone() == "" {
			pfx = netip.PrefixFrom(a, a.BitLen())
		} else if pfx, err = netip.ParsePrefix(item); err != nil {
			p.add(name, item, "not a CIDR prefix such as 192.0.2.0/24 or 2001:db8::/32")
			continue
		}
		if pfx.Masked() != pfx {
			p.add(name, item, "host bits are set; the prefix is %s", pfx.Masked())
			continue
		}
		out = append(out, pfx)
	}
	return out
}

// duration parses a Go duration within [lo, hi]; wholeSeconds rejects
// fractions of a second for values that travel as seconds on the wire.
func (p *problems) duration(name, text string, lo, hi time.Duration, wholeSeconds bool) time.Duration {
	d, err := time.ParseDuration(text)
	switch {
	case err != nil:
		p.add(name, text, "not a duration such as 90s, 10m or 1h")
	case d < lo || d > hi:
		p.add(name, text, "must be from %v to %v", lo, hi)
	case wholeSeconds && d%time.Second != 0:
		p.add(name, text, "must be whole seconds")
	default:
		return d
	}
	return 0
}

// integer parses a decimal integer within [lo, hi].
func (p *problems) integer(name, text string, lo, hi int) int {
	n, err := strconv.Atoi(text)
	switch {
	case err != nil:
		p.add(name, text, "not a whole number")
	case n < lo || n > hi:
		p.add(name, text, "must be from %d to %d", lo, hi)
	default:
		return n
	}
	return 0
}

// minRelayPort keeps relayed ports out of the system ports (RFC 8656 §7.2:
// SHOULD NOT be 0-1023).
const minRelayPort = 1024

// portRange parses "min-max".
func (p *problems) portRange(name, text string) PortRange {
	lo, hi, ok := strings.Cut(text, "-")
	if !ok {
		p.add(name, text, "not a range such as 49152-65535")
		return PortRange{}
	}
	minPort, errMin := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	maxPort, errMax := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	switch {
	case errMin != nil || errMax != nil:
		p.add(name, text, "ports must be whole numbers from %d to 65535", minRelayPort)
	case minPort > maxPort:
		p.add(name, text, "min above max")
	case minPort < minRelayPort:
		p.add(name, text, "min below %d: relayed ports must not be system ports (RFC 8656 §7.2)", minRelayPort)
	default:
		return PortRange{Min: uint16(minPort), Max: uint16(maxPort)}
	}
	return PortRange{}
}

// boolean parses true or false (nothing else: "1", "yes" and the like are
// errors, so a typo cannot silently mean false).
func (p *problems) boolean(name, text string) bool {
	switch text {
	case "true":
		return true
	case "false":
		return false
	}
	p.add(name, text, "must be true or false")
	return false
}
