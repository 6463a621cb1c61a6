// Package relayext plugs the gateway module (package gateway) into the
// relay through relay.Extension: it hands each allocation a
// gateway.Session, decides cheaply whether an address concerns the gateway
// at all, runs the resolutions the DNS sentinel asks for, counts the
// gateway's verdicts and retires expired NAT flows from the relay's
// housekeeping timer (gateway/doc.go describes the behaviour).
//
// Concurrency: an Extension is shared by every packet loop. The fields set
// in New never change; view is an atomic pointer; the resolution table and
// the sweeper have their own locks, never taken per datagram on an existing
// flow; a gateway.Session is guarded by its allocation's own mutex.
package relayext

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/gateway"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/relay"
)

// Extension is the gateway as a relay.Extension. One Extension serves one
// relay.Server.
type Extension struct {
	core     *gateway.Gateway
	cfg      gateway.Config
	resolver gateway.Resolver
	view     atomic.Pointer[view]
	dns      resolutions
	sweeper  sweeper
	// counts holds one verdict counter set per relay lane and, last, one
	// for callers outside the packet loops (Permit, the resolutions).
	counts []verdictCounters

	ctx    context.Context // cancelled by Close: in-flight resolutions end
	cancel context.CancelFunc
	wg     sync.WaitGroup // the resolution goroutines
}

// New returns the extension for core; resolver answers the sentinel's
// resolutions (nil: the system resolver, NewDNSResolver).
func New(core *gateway.Gateway, resolver gateway.Resolver) *Extension {
	if resolver == nil {
		resolver = NewDNSResolver(netip.AddrPort{})
	}
	x := &Extension{core: core, cfg: core.Config(), resolver: resolver, counts: make([]verdictCounters, 1)}
	x.ctx, x.cancel = context.WithCancel(context.Background())
	x.dns.init(x)
	return x
}

// Start implements relay.Extension: it sizes the per-lane counters. The
// relay calls it before any other method.
func (x *Extension) Start(lanes int) {
	x.counts = make([]verdictCounters, lanes+1)
}

// shared is the counter set of callers outside the packet loops.
func (x *Extension) shared() *verdictCounters { return &x.counts[len(x.counts)-1] }

// lane is the counter set of relay lane i.
func (x *Extension) lane(i int) *verdictCounters {
	if i < 0 || i >= len(x.counts)-1 {
		return x.shared()
	}
	return &x.counts[i]
}

// Admit implements relay.Extension: the gateway state of an allocation for
// user (the user part of a TURN REST username, or the static user name).
// The gateway refuses no allocation.
func (x *Extension) Admit(user string, _ allocation.FiveTuple, _ mono.Time) (relay.AllocationExtension, error) {
	return &session{x: x, core: x.core.NewSession(user)}, nil
}

// Sweep implements relay.Extension: expire what is due and report the
// earliest deadline left.
func (x *Extension) Sweep(now mono.Time) (mono.Time, bool) {
	return x.sweeper.sweep(now)
}

// Close implements relay.Extension: it cancels the resolutions in flight
// and waits for their goroutines. Safe to call more than once.
func (x *Extension) Close() {
	// Cancelling under the resolution table's lock orders it with join:
	// a join either started its goroutine (counted in wg) before, or sees
	// the cancelled context and starts none.
	x.dns.mu.Lock()
	x.cancel()
	x.dns.mu.Unlock()
	x.wg.Wait()
}

// AddCounts implements relay.Extension: the verdicts by action and reason.
func (x *Extension) AddCounts(out map[string]map[string]uint64) {
	for i := range x.counts {
		x.counts[i].addTo(out)
	}
}

// view is what the extension needs of one resources snapshot for its
// lock-free relevance checks: the CIDR resources. It is built once per
// reload (the first time a packet loop sees the new snapshot) and then only
// read.
type view struct {
	snap  *gateway.Snapshot
	cidrs []netip.Prefix
}

// covers reports whether a means something to the gateway: a DNS
// sentinel's IP, an address in the proxy ranges, or an address inside a
// CIDR resource of the current snapshot. It takes no lock and allocates
// nothing (except once per reload, to build the new view): datagrams to
// and from addresses it does not cover never touch per-allocation gateway
// state.
func (x *Extension) covers(a netip.Addr) bool {
	a = a.Unmap()
	dns, ranges := &x.cfg.DNS, &x.cfg.ProxyRanges
	if (dns.V4.IsValid() && dns.V4.Addr() == a) || (dns.V6.IsValid() && dns.V6.Addr() == a) {
		return true
	}
	if ranges.V4.Contains(a) || ranges.V6.Contains(a) {
		return true
	}
	for _, p := range x.currentView().cidrs {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// currentView returns the view of the gateway's current snapshot, building
// it when a reload published a new one. Two loops racing to build it both
// produce the same immutable value; either may win.
func (x *Extension) currentView() *view {
	snap := x.core.Snapshot()
	if v := x.view.Load(); v != nil && v.snap == snap {
		return v
	}
	v := &view{snap: snap}
	for _, r := range snap.Resources() {
		if r.CIDR.IsValid() {
			v.cidrs = append(v.cidrs, r.CIDR)
		}
	}
	x.view.Store(v)
	return v
}

// session is one allocation's gateway state: the core's Session behind a
// per-allocation mutex (a gateway.Session is not safe for concurrent use;
// outbound datagrams arrive on client-path goroutines, inbound ones on the
// relayed socket's loop, answers on resolution goroutines, expiry on the
// relay's housekeeping timer). There is no lock wider than one allocation.
type session struct {
	x *Extension
	// engaged is set, and never cleared, once the core opened a flow for
	// this allocation. Until then an inbound datagram or ICMP error from an
	// address covers rejects cannot belong to the gateway and skips mu.
	engaged atomic.Bool
	// pending counts this allocation's queries waiting for a resolution
	// (at most maxPendingPerSession).
	pending atomic.Int32

	mu   sync.Mutex
	core *gateway.Session // guarded by mu
	// scheduled is the deadline the sweeper holds for this session, zero
	// for none; guarded by mu.
	scheduled mono.Time
}

// afterCall runs under mu after every call that may open or retire flows:
// it marks the session engaged and hands the sweeper an earlier deadline.
// The sweeper's lock is taken only when the earliest deadline moved earlier
// (the core's NextDeadline only moves earlier when a flow opens on an
// allocation whose earlier flows expire later), never per datagram on an
// existing flow.
func (s *session) afterCall() {
	t, ok := s.core.NextDeadline()
	if !ok {
		return
	}
	if !s.engaged.Load() {
		s.engaged.Store(true)
	}
	if s.scheduled == 0 || t < s.scheduled {
		s.scheduled = t
		s.x.sweeper.schedule(s, t)
	}
}
