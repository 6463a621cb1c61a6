package relay

import (
	"sync/atomic"

	"github.com/turnstile-relay/turnstile/gateway"
)

// Slots of the verdict counters: gateway.Action and gateway.Reason values
// index them directly (the gateway package has 10 actions and 26 reasons;
// the slots leave room to grow). A value beyond them is counted in
// overflow, exported as action and reason "other".
const (
	gatewayActionSlots = 16
	gatewayReasonSlots = 40
)

// resolveBusyReason labels queries the relay dropped because too many
// resolutions were in flight (gateway_dns.go limits); it is the relay's
// own reason, next to the core's.
const resolveBusyReason = "resolve_busy"

// gatewayCounters count the gateway's verdicts by action and reason, one
// set per counters group (per packet loop), so counting is an uncontended
// atomic add.
type gatewayCounters struct {
	verdicts    [gatewayActionSlots][gatewayReasonSlots]atomic.Uint64
	overflow    atomic.Uint64
	resolveBusy atomic.Uint64
}

// count records one verdict.
func (g *gatewayCounters) count(v gateway.Verdict) {
	if int(v.Action) < gatewayActionSlots && int(v.Reason) < gatewayReasonSlots {
		g.verdicts[v.Action][v.Reason].Add(1)
		return
	}
	g.overflow.Add(1)
}

// countResolveBusy records a query dropped for want of resolution capacity.
func (g *gatewayCounters) countResolveBusy() { g.resolveBusy.Add(1) }

// addTo adds the non-zero counts to out (action → reason → count).
func (g *gatewayCounters) addTo(out map[string]map[string]uint64) {
	add := func(action, reason string, n uint64) {
		if n == 0 {
			return
		}
		m := out[action]
		if m == nil {
			m = make(map[string]uint64)
			out[action] = m
		}
		m[reason] += n
	}
	for a := range g.verdicts {
		for r := range g.verdicts[a] {
			if n := g.verdicts[a][r].Load(); n > 0 {
				add(gateway.Action(a).String(), gateway.Reason(r).String(), n)
			}
		}
	}
	add("other", "other", g.overflow.Load())
	add(gateway.ActionDrop.String(), resolveBusyReason, g.resolveBusy.Load())
}
