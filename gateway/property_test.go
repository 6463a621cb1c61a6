package gateway

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// The property test drives a session with random flows, DNS answers that
// change over time, replies, ICMP errors, reloads that revoke and restore
// access, and random time steps, and checks after every step:
//
//  1. every ICMP error the client gets — synthesized (ActionRefuse) or
//     received (InboundICMP's ActionDeliver) — names exactly the proxy
//     address and port the client sent to, in the family of that address;
//  2. no datagram is ever delivered with a real IP as peer: deliveries name
//     an address the client sent to (its proxy IP:port, or a CIDR resource
//     address), and the reply really came from that flow's real IP:port;
//  3. a live flow never switches real IP: while the model says the flow is
//     alive, every ActionSend for it goes to the same real IP:port;
//  4. translated flows go to a real IP the domain resolved to, in the
//     proxy's family;
//  5. an RFC 6062 Connect goes to such a real IP too (or to the CIDR
//     address itself), only on a port a tcp filter lists, and never
//     disturbs the datagram flows (property 3 still holds around it).
//
// The model of flow liveness is the spec's: 120 s after the last datagram
// either way once answered, 60 s after the last outbound before.

const propertyResources = `{"resources": [
  {"name": "open", "domain": "*.open.internal", "users": ["*"]},
  {"name": "filtered", "domain": "*.f.internal", "users": ["*"], "filters": [{"protocol": "udp", "ports": "1000-1999"}, {"protocol": "tcp", "ports": "2500"}]},
  {"name": "lab", "cidr": "10.9.0.0/24", "users": ["*"], "filters": [{"protocol": "udp", "ports": "1000-2999"}, {"protocol": "tcp", "ports": "5000"}]}
]}`

// propertyRevoked removes the filtered resource and the CIDR resource.
const propertyRevoked = `{"resources": [
  {"name": "open", "domain": "*.open.internal", "users": ["*"]}
]}`

type modelFlow struct {
	real              netip.AddrPort
	lastOut, lastIn   mono.Time
	answered, started bool
}

func (f *modelFlow) alive(now mono.Time) bool {
	if !f.started {
		return false
	}
	if f.answered {
		return now < max(f.lastOut, f.lastIn).Add(FlowIdleTimeout)
	}
	return now < f.lastOut.Add(UnansweredFlowTimeout)
}

type propertyRun struct {
	t       *testing.T
	rng     *rand.Rand
	gw      *Gateway
	s       *Session
	now     mono.Time
	domains []string
	// proxies[name] holds the IPv4 then the IPv6 proxy IPs once resolved.
	proxies map[string][]netip.Addr
	// results[name] collects every real IP ever given for the domain.
	results map[string][]netip.Addr
	flows   map[netip.AddrPort]*modelFlow // by client-side address
	revoked bool                          // propertyRevoked is in force
	seen    map[string]int                // outcomes, for coverage of the run
	steps   int
}

var (
	realPool4 = addrs("192.0.2.1", "192.0.2.2", "192.0.2.3")
	realPool6 = addrs("2001:db8::1", "2001:db8::2", "2001:db8::3")
	cidrPool  = addrs("10.9.0.1", "10.9.0.2")
	portPool  = []uint16{1000, 1500, 2500, 5000}
)

func TestTricky12_EveryICMPErrorNamesTheProxyAddress(t *testing.T) {
	seen := map[string]int{}
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			gw := newTestGateway(t, propertyResources, func(c *Config) {
				c.MaxFlows, c.MaxTombstones, c.TombstoneLifetime = 24, 8, 90*time.Second
			})
			r := &propertyRun{
				t: t, rng: rand.New(rand.NewPCG(seed, 12)), gw: gw, s: gw.NewSession("alice"),
				domains: []string{"a.open.internal", "b.open.internal", "c.open.internal", "a.f.internal", "b.f.internal"},
				proxies: map[string][]netip.Addr{}, results: map[string][]netip.Addr{},
				flows: map[netip.AddrPort]*modelFlow{}, seen: seen,
			}
			for range 3000 {
				r.step()
			}
		})
	}
	t.Logf("outcomes: %v", seen)
	// The run must have reached every outcome the properties are about.
	for _, k := range []string{
		"out send(translated)", "out send(direct)", "out refuse(no_records)", "out refuse(filter_denied)",
		"out refuse(flow_collision)", "out refuse(no_access)", "out refuse(unknown_proxy)",
		"in deliver(translated)", "in deliver(direct)", "in drop(expired_flow)", "in pass(not_gateway)",
		"icmp deliver(translated)", "icmp drop(expired_flow)", "icmp drop(no_flow)",
		"connect send(translated)", "connect send(direct)", "connect forbid(filter_denied)",
		"connect refuse(no_records)",
	} {
		if seen[k] == 0 {
			t.Errorf("no step produced %q; outcomes: %v", k, seen)
		}
	}
}

func (r *propertyRun) count(what string, v Verdict) {
	r.seen[what+" "+v.Action.String()+"("+v.Reason.String()+")"]++
}

func (r *propertyRun) step() {
	r.steps++
	switch n := r.rng.IntN(100); {
	case n < 10:
		r.resolve()
	case n < 40:
		r.outbound()
	case n < 45:
		r.connect()
	case n < 70:
		r.inbound()
	case n < 85:
		r.icmp()
	case n < 87:
		r.reload()
	default:
		r.s.Expire(r.now)
	}
	// Mostly small steps, sometimes past the flow lifetimes.
	switch n := r.rng.IntN(10); {
	case n < 7:
		r.now = r.now.Add(time.Duration(r.rng.IntN(3000)) * time.Millisecond)
	case n < 9:
		r.now = r.now.Add(time.Duration(r.rng.IntN(70)) * time.Second)
	default:
		r.now = r.now.Add(time.Duration(55+r.rng.IntN(70)) * time.Second)
	}
}

func (r *propertyRun) fail(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("step %d at %v: %s", r.steps, time.Duration(r.now), fmt.Sprintf(format, args...))
}

func (r *propertyRun) subset(pool []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range pool {
		if r.rng.IntN(2) == 0 {
			out = append(out, a)
		}
	}
	return out
}

func (r *propertyRun) resolve() {
	name := r.domains[r.rng.IntN(len(r.domains))]
	typ := dnsmessage.TypeA
	if r.rng.IntN(2) == 0 {
		typ = dnsmessage.TypeAAAA
	}
	v, q, _ := r.s.Query(buildQuery(r.t, 1, name, typ), r.now, nil)
	if v.Action != ActionResolve {
		return // access revoked by a reload
	}
	v4, v6 := r.subset(realPool4), r.subset(realPool6)
	_, ans := r.s.Resolved(q, v4, v6, nil)
	_, got := parseAnswer(r.t, ans)
	if len(got) != ProxiesPerFamily {
		r.fail("%s answered %v", name, got)
	}
	r.results[name] = append(append(r.results[name], v4...), v6...)
	if _, ok := r.proxies[name]; !ok {
		p4 := lookup(r.t, r.s, name, dnsmessage.TypeA, v4, v6, r.now)
		p6 := lookup(r.t, r.s, name, dnsmessage.TypeAAAA, v4, v6, r.now)
		r.proxies[name] = append(p4, p6...)
	}
}

// destination picks where the client sends: mostly known proxy IPs, also
// unknown proxy-range addresses, CIDR addresses and ordinary peers.
func (r *propertyRun) destination() netip.AddrPort {
	port := portPool[r.rng.IntN(len(portPool))]
	switch n := r.rng.IntN(10); {
	case n < 7 && len(r.proxies) > 0:
		keys := make([]string, 0, len(r.proxies))
		for k := range r.proxies {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		ps := r.proxies[keys[r.rng.IntN(len(keys))]]
		return ap(ps[r.rng.IntN(len(ps))], port)
	case n < 8:
		return ap(netip.MustParseAddr("100.96.255.9"), port)
	case n < 9:
		return ap(cidrPool[r.rng.IntN(len(cidrPool))], port)
	default:
		return ap(netip.MustParseAddr("198.51.100.7"), port)
	}
}

func (r *propertyRun) outbound() {
	dst := r.destination()
	v := r.s.Outbound(dst, r.now)
	r.count("out", v)
	f := r.flows[dst]
	switch v.Action {
	case ActionRefuse:
		if v.Addr != dst {
			r.fail("refusal for %v names %v", dst, v.Addr)
		}
		if want := prohibitedFor(dst.Addr()); v.ICMP != want && v.ICMP != unreachableFor(dst.Addr()) {
			r.fail("refusal for %v carries ICMP %+v of the wrong family", dst, v.ICMP)
		}
	case ActionSend:
		if f != nil && f.alive(r.now) && f.real != v.Addr {
			r.fail("live flow %v switched from %v to %v", dst, f.real, v.Addr)
		}
		if f == nil || !f.alive(r.now) {
			f = &modelFlow{real: v.Addr, started: true, lastOut: r.now, lastIn: r.now}
			r.flows[dst] = f
		}
		f.lastOut = r.now
		r.checkRealIP(dst, v.Addr)
	case ActionPass, ActionDrop:
		ordinary := dst.Addr() == netip.MustParseAddr("198.51.100.7") ||
			(r.revoked && slices.Contains(cidrPool, dst.Addr()))
		if v.Action == ActionPass && !ordinary {
			r.fail("gateway address %v passed to the default policy: %v", dst, v)
		}
	default:
		r.fail("unexpected %v for %v", v, dst)
	}
}

// connect checks property 5 for a Connect to a random destination.
func (r *propertyRun) connect() {
	dst := r.destination()
	v := r.s.Connect(dst, r.now)
	r.count("connect", v)
	ordinary := dst.Addr() == netip.MustParseAddr("198.51.100.7") ||
		(r.revoked && slices.Contains(cidrPool, dst.Addr()))
	switch v.Action {
	case ActionSend:
		r.checkRealIP(dst, v.Addr)
		filtered := false
		for name, ps := range r.proxies {
			filtered = filtered || strings.HasSuffix(name, ".f.internal") && slices.Contains(ps, dst.Addr())
		}
		switch {
		case filtered && dst.Port() != 2500, slices.Contains(cidrPool, dst.Addr()) && dst.Port() != 5000:
			r.fail("Connect to %v allowed on a port no tcp filter lists", dst)
		}
	case ActionForbid:
		if v.Reason == ReasonNotGateway || ordinary {
			r.fail("Connect to %v forbidden with %v", dst, v)
		}
	case ActionRefuse:
		if v.Reason != ReasonNoRecords {
			r.fail("Connect to %v refused with %v", dst, v)
		}
	case ActionPass:
		if !ordinary {
			r.fail("gateway address %v passed to the default policy: %v", dst, v)
		}
	default:
		r.fail("unexpected %v for Connect to %v", v, dst)
	}
}

// checkRealIP checks property 4 for a translated flow.
func (r *propertyRun) checkRealIP(client, real netip.AddrPort) {
	if client.Addr() == real.Addr() {
		if !slices.Contains(cidrPool, real.Addr()) {
			r.fail("untranslated send to %v", real)
		}
		return
	}
	if client.Addr().Is4() != real.Addr().Is4() || client.Port() != real.Port() {
		r.fail("flow %v → %v changes family or port", client, real)
	}
	for name, ps := range r.proxies {
		if slices.Contains(ps, client.Addr()) && !slices.Contains(r.results[name], real.Addr()) {
			r.fail("%v (%s) sent to %v, never a result of the domain", client, name, real)
		}
	}
}

// source picks a peer address datagrams or quoted errors come from.
func (r *propertyRun) source() netip.AddrPort {
	port := portPool[r.rng.IntN(len(portPool))]
	pool := slices.Concat(realPool4, realPool6, cidrPool)
	return ap(pool[r.rng.IntN(len(pool))], port)
}

// checkDelivery checks properties 1 and 2 for a delivery of traffic from
// (or an error quoting) src to client address v.Addr.
func (r *propertyRun) checkDelivery(what string, src netip.AddrPort, v Verdict) {
	f := r.flows[v.Addr]
	switch {
	case f != nil && f.alive(r.now) && f.real == src:
		f.lastIn, f.answered = r.now, true
	case what == "datagram" && v.Reason == ReasonDirect && v.Addr == src && slices.Contains(cidrPool, src.Addr()):
		// an unsolicited datagram from a CIDR resource: its own address
	default:
		r.fail("%s from %v delivered as %v, which is no live flow of that real address", what, src, v.Addr)
	}
	for _, pool := range [][]netip.Addr{realPool4, realPool6} {
		if slices.Contains(pool, v.Addr.Addr()) {
			r.fail("%s delivered with real IP %v as peer", what, v.Addr)
		}
	}
}

func (r *propertyRun) inbound() {
	src := r.source()
	v := r.s.Inbound(src, r.now)
	r.count("in", v)
	if v.Action == ActionDeliver {
		r.checkDelivery("datagram", src, v)
	} else if v.Action != ActionDrop && v.Action != ActionPass {
		r.fail("unexpected %v for datagram from %v", v, src)
	}
}

func (r *propertyRun) icmp() {
	src := r.source()
	icmp := ICMP{Type: 3, Code: 3}
	if src.Addr().Is6() {
		icmp = ICMP{Type: 1, Code: 4}
	}
	v := r.s.InboundICMP(src, icmp, r.now)
	r.count("icmp", v)
	switch v.Action {
	case ActionDeliver:
		r.checkDelivery("ICMP error", src, v)
		if v.ICMP != icmp {
			r.fail("ICMP error changed on the way: %+v", v.ICMP)
		}
	case ActionDrop, ActionPass:
	default:
		r.fail("unexpected %v for ICMP error quoting %v", v, src)
	}
}

func (r *propertyRun) reload() {
	file := propertyResources
	if r.revoked = r.rng.IntN(2) == 0; r.revoked {
		file = propertyRevoked
	}
	if err := r.gw.Reload([]byte(file)); err != nil {
		r.fail("reload: %v", err)
	}
}
