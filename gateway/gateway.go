package gateway

import (
	"sync/atomic"
)

// Gateway holds the static configuration and the current resources
// snapshot, and creates one Session per allocation. It is safe for
// concurrent use: Reload may run (on SIGHUP) while sessions decide.
type Gateway struct {
	cfg  Config
	geo  geometry
	snap atomic.Pointer[Snapshot]
}

// New validates cfg and returns a gateway with no resources; call Reload
// with the resources file before use.
func New(cfg Config) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, geo: newGeometry(cfg.ProxyRanges, cfg.DNS)}
	empty, _ := newSnapshot(&g.cfg, nil) // no resources: cannot fail
	g.snap.Store(empty)
	return g, nil
}

// Config returns the configuration the gateway was built with.
func (g *Gateway) Config() Config { return g.cfg }

// Reload parses and validates a resources file and, only if the whole file
// is valid, publishes it as the current snapshot. On error the previous
// snapshot stays in force and the error (a *ResourceError) says where the
// file is wrong.
//
// What a reload does to live allocations: proxy IPs stay assigned to their
// domains for the allocation's life, and NAT flows keep their real IP, but
// every later datagram, ICMP error, permission request and DNS query is
// judged against the new snapshot. A user who lost access to a resource, or a
// port a filter no longer permits, gets the "administratively prohibited"
// ICMP error (3/13, 1/1) on the next outbound datagram; replies and ICMP
// errors on such flows are dropped; CreatePermission/ChannelBind gets 403;
// DNS gets REFUSED. Flows are not torn down, so if a later reload restores
// access before they expire they continue unchanged. Permissions the relay
// installed earlier need not be revoked: the gateway refuses the traffic.
func (g *Gateway) Reload(resourcesFile []byte) error {
	list, err := ParseResources(resourcesFile)
	if err != nil {
		return err
	}
	s, err := newSnapshot(&g.cfg, list)
	if err != nil {
		return err
	}
	g.snap.Store(s)
	return nil
}

// Snapshot returns the current resources snapshot.
func (g *Gateway) Snapshot() *Snapshot { return g.snap.Load() }
