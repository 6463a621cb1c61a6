package relay

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/turnstile-relay/turnstile/gateway"
	"github.com/turnstile-relay/turnstile/internal/mono"
)

// gatewayShell is the relay's I/O side of the gateway module
// (../shared/gateway-spec.md): it hands each allocation a gateway.Session,
// decides cheaply whether an address concerns the gateway at all, runs the
// resolutions the DNS sentinel asks for, and retires expired NAT flows.
// It exists only when Config.Gateway is set; with it nil the relay is a
// plain relay and none of this code runs.
//
// Concurrency: the shell is shared by every packet loop. The fields set in
// newGatewayShell never change; view is an atomic pointer; the resolution
// table and the sweeper have their own locks, never taken per datagram.
type gatewayShell struct {
	srv      *Server
	core     *gateway.Gateway
	cfg      gateway.Config
	resolver gateway.Resolver
	view     atomic.Pointer[gatewayView]
	dns      resolutions
	sweeper  gatewaySweeper
	// c counts what the resolution goroutines do (answers delivered,
	// sends that failed); Server.Stats sums it with the loops' counters.
	c counters

	ctx    context.Context // cancelled by stop: in-flight resolutions end
	cancel context.CancelFunc
	wg     sync.WaitGroup // the sweeper and the resolution goroutines
}

// gatewayView is what the relay needs of one resources snapshot for its
// lock-free relevance checks: the CIDR resources. It is built once per
// reload (the first time a packet loop sees the new snapshot) and then only
// read.
type gatewayView struct {
	snap  *gateway.Snapshot
	cidrs []netip.Prefix
}

// newGatewayShell prepares srv's shell for core; resolver answers the
// sentinel's resolutions (nil: the system resolver).
func newGatewayShell(srv *Server, core *gateway.Gateway, resolver gateway.Resolver) *gatewayShell {
	if resolver == nil {
		resolver = NewDNSResolver(netip.AddrPort{})
	}
	g := &gatewayShell{srv: srv, core: core, cfg: core.Config(), resolver: resolver}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.dns.init(g)
	g.sweeper.init(srv.clock)
	return g
}

// start runs the sweeper goroutine. Nil-safe: a relay without gateway has
// nothing to start.
func (g *gatewayShell) start() {
	if g == nil {
		return
	}
	g.wg.Add(1)
	go func() { defer g.wg.Done(); g.sweeper.run(g.ctx) }()
}

// stop cancels the resolutions in flight and waits for every goroutine of
// the shell. Nil-safe; safe to call more than once.
func (g *gatewayShell) stop() {
	if g == nil {
		return
	}
	// Cancelling under the resolution table's lock orders it with join:
	// a join either started its goroutine (counted in wg) before, or sees
	// the cancelled context and starts none.
	g.dns.mu.Lock()
	g.cancel()
	g.dns.mu.Unlock()
	g.wg.Wait()
}

// newSession starts the gateway state of an allocation for user, the
// allocation's user (allocation.Allocation.User: the user part of a TURN
// REST username, or the static user name). Nil-safe: without gateway the
// session has none.
func (g *gatewayShell) newSession(user string) *gatewaySession {
	if g == nil {
		return nil
	}
	return &gatewaySession{shell: g, core: g.core.NewSession(user)}
}

// covers reports whether a means something to the gateway: a DNS
// sentinel's IP, an address in the proxy ranges, or an address inside a
// CIDR resource of the current snapshot. It takes no lock and allocates
// nothing (except once per reload, to build the new view): datagrams to
// and from addresses it does not cover never touch per-allocation gateway
// state.
func (g *gatewayShell) covers(a netip.Addr) bool {
	a = a.Unmap()
	dns, ranges := &g.cfg.DNS, &g.cfg.ProxyRanges
	if (dns.V4.IsValid() && dns.V4.Addr() == a) || (dns.V6.IsValid() && dns.V6.Addr() == a) {
		return true
	}
	if ranges.V4.Contains(a) || ranges.V6.Contains(a) {
		return true
	}
	for _, p := range g.currentView().cidrs {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// currentView returns the view of the gateway's current snapshot, building
// it when a reload published a new one. Two loops racing to build it both
// produce the same immutable value; either may win.
func (g *gatewayShell) currentView() *gatewayView {
	snap := g.core.Snapshot()
	if v := g.view.Load(); v != nil && v.snap == snap {
		return v
	}
	v := &gatewayView{snap: snap}
	for _, r := range snap.Resources() {
		if r.CIDR.IsValid() {
			v.cidrs = append(v.cidrs, r.CIDR)
		}
	}
	g.view.Store(v)
	return v
}

// gatewaySession is one allocation's gateway state in the shell: the core's
// Session behind a per-allocation mutex (a gateway.Session is not safe for
// concurrent use; outbound datagrams arrive on client-path goroutines,
// inbound ones on the relayed socket's loop, answers on resolution
// goroutines). There is no lock wider than one allocation.
type gatewaySession struct {
	shell *gatewayShell
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
func (gs *gatewaySession) afterCall() {
	t, ok := gs.core.NextDeadline()
	if !ok {
		return
	}
	if !gs.engaged.Load() {
		gs.engaged.Store(true)
	}
	if gs.scheduled == 0 || t < gs.scheduled {
		gs.scheduled = t
		gs.shell.sweeper.schedule(gs, t)
	}
}

// close ends the core session when its allocation ends. Nil-safe.
func (gs *gatewaySession) close() {
	if gs == nil {
		return
	}
	gs.mu.Lock()
	gs.core.Close()
	gs.scheduled = 0
	gs.mu.Unlock()
}
