package gateway

import (
	"fmt"
	"net/netip"
)

// Snapshot is an immutable, compiled resources file. Gateway.Reload builds a
// new one off the hot path and publishes it atomically; sessions read the
// current one on every call without locking (style: config as immutable
// snapshots). A Snapshot is safe for concurrent use.
type Snapshot struct {
	resources []compiledResource
	// exact maps a normalized domain to the resources naming it exactly.
	exact map[string][]int
	// wildcard maps D to the resources with pattern "*.D".
	wildcard map[string][]int
	// cidrs lists the CIDR resources; lookups scan it (a handful of entries
	// in practice; it is consulted when a flow opens, not per datagram).
	cidrs []int
}

type compiledResource struct {
	Resource
	everyone bool
	users    map[string]struct{}
}

// newSnapshot compiles a parsed resources file and checks it against the
// static configuration: a CIDR resource may not overlap the proxy ranges nor
// contain a sentinel, because those addresses mean something else.
func newSnapshot(cfg *Config, list []Resource) (*Snapshot, error) {
	s := &Snapshot{
		resources: make([]compiledResource, len(list)),
		exact:     make(map[string][]int),
		wildcard:  make(map[string][]int),
	}
	for i, r := range list {
		c := compiledResource{Resource: r, users: make(map[string]struct{}, len(r.Users))}
		for _, u := range r.Users {
			if u == "*" {
				c.everyone = true
			}
			c.users[u] = struct{}{}
		}
		s.resources[i] = c
		switch {
		case r.CIDR.IsValid():
			for _, p := range []netip.Prefix{cfg.ProxyRanges.V4, cfg.ProxyRanges.V6} {
				if p.Overlaps(r.CIDR) {
					return nil, &ResourceError{Index: i, Name: r.Name, Field: "cidr",
						Err: fmt.Errorf("%s overlaps the proxy range %s", r.CIDR, p)}
				}
			}
			for _, ap := range []netip.AddrPort{cfg.DNS.V4, cfg.DNS.V6} {
				if ap.IsValid() && r.CIDR.Contains(ap.Addr()) {
					return nil, &ResourceError{Index: i, Name: r.Name, Field: "cidr",
						Err: fmt.Errorf("%s contains the DNS sentinel %s", r.CIDR, ap.Addr())}
				}
			}
			s.cidrs = append(s.cidrs, i)
		case len(r.Domain) > 2 && r.Domain[:2] == "*.":
			s.wildcard[r.Domain[2:]] = append(s.wildcard[r.Domain[2:]], i)
		default:
			s.exact[r.Domain] = append(s.exact[r.Domain], i)
		}
	}
	return s, nil
}

// Len returns the number of resources.
func (s *Snapshot) Len() int { return len(s.resources) }

// Resources returns the resources in file order. The returned slice is new;
// the Users and Filters slices inside are shared and must not be modified.
func (s *Snapshot) Resources() []Resource {
	out := make([]Resource, len(s.resources))
	for i := range s.resources {
		out[i] = s.resources[i].Resource
	}
	return out
}

// usableBy reports whether user may use the resource.
func (c *compiledResource) usableBy(user string) bool {
	if c.everyone {
		return true
	}
	_, ok := c.users[user]
	return ok
}

// forDomain calls fn for each resource whose domain pattern matches the
// normalized name until fn returns true, and reports whether one did.
func (s *Snapshot) forDomain(name string, fn func(*compiledResource) bool) bool {
	for _, i := range s.exact[name] {
		if fn(&s.resources[i]) {
			return true
		}
	}
	if len(s.wildcard) == 0 {
		return false
	}
	return parentSuffixes(name, func(suffix string) bool {
		for _, i := range s.wildcard[suffix] {
			if fn(&s.resources[i]) {
				return true
			}
		}
		return false
	})
}

// forCIDR calls fn for each CIDR resource containing a until fn returns
// true, and reports whether one did.
func (s *Snapshot) forCIDR(a netip.Addr, fn func(*compiledResource) bool) bool {
	for _, i := range s.cidrs {
		if c := &s.resources[i]; c.CIDR.Contains(a) && fn(c) {
			return true
		}
	}
	return false
}

// domainAccess reports whether user may use some resource matching name.
func (s *Snapshot) domainAccess(name, user string) bool {
	return s.forDomain(name, func(c *compiledResource) bool { return c.usableBy(user) })
}

// cidrAccess reports whether a lies in a CIDR resource, and whether user may
// use one of those that contain it.
func (s *Snapshot) cidrAccess(a netip.Addr, user string) (covered, allowed bool) {
	allowed = s.forCIDR(a, func(c *compiledResource) bool {
		covered = true
		return c.usableBy(user)
	})
	return covered, allowed
}

// permitsProxy reports whether a UDP datagram on port of a flow for domain
// name, reaching real (invalid when the proxy has no real IP), is permitted
// by any resource user may use that applies: those matching the domain, and
// the CIDR resources containing real (docs/gateway.md "The resources file").
func (s *Snapshot) permitsProxy(name string, real netip.Addr, user string, port uint16) bool {
	permits := func(c *compiledResource) bool { return c.usableBy(user) && c.Filters.PermitsUDP(port) }
	return s.forDomain(name, permits) || (real.IsValid() && s.forCIDR(real, permits))
}

// permitsDirect reports whether a UDP datagram on port to or from a, inside
// a CIDR resource, is permitted by one that user may use.
func (s *Snapshot) permitsDirect(a netip.Addr, user string, port uint16) bool {
	return s.forCIDR(a, func(c *compiledResource) bool { return c.usableBy(user) && c.Filters.PermitsUDP(port) })
}
