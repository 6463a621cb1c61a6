package relayext

import (
	"sync/atomic"

	"github.com/turnstile-relay/turnstile/gateway"
)

// Slots of the verdict counters: gateway.Action and gateway.Reason values
// index them directly (the gateway package has 10 actions and 26 reasons;
// the slots leave room to grow). A value beyond them is counted in
// overflow, exported as action and reason "other".
const (
	actionSlots = 16
	reasonSlots = 40
)

// resolveBusyReason labels queries dropped because too many resolutions
// were in flight (dns.go limits); it is this package's own reason, next to
// the core's.
const resolveBusyReason = "resolve_busy"

// verdictCounters count the gateway's verdicts by action and reason, one
// set per relay lane (relay.Extension.Start), so counting on a packet loop
// is an uncontended atomic add.
type verdictCounters struct {
	verdicts    [actionSlots][reasonSlots]atomic.Uint64
	overflow    atomic.Uint64
	resolveBusy atomic.Uint64
	_           [64]byte // keep the next lane's counters off this cache line
}

// count records one verdict.
func (c *verdictCounters) count(v gateway.Verdict) {
	if int(v.Action) < actionSlots && int(v.Reason) < reasonSlots {
		c.verdicts[v.Action][v.Reason].Add(1)
		return
	}
	c.overflow.Add(1)
}

// countResolveBusy records a query dropped for want of resolution capacity.
func (c *verdictCounters) countResolveBusy() { c.resolveBusy.Add(1) }

// addTo adds the non-zero counts to out (action → reason → count).
func (c *verdictCounters) addTo(out map[string]map[string]uint64) {
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
	for a := range c.verdicts {
		for r := range c.verdicts[a] {
			if n := c.verdicts[a][r].Load(); n > 0 {
				add(gateway.Action(a).String(), gateway.Reason(r).String(), n)
			}
		}
	}
	add("other", "other", c.overflow.Load())
	add(gateway.ActionDrop.String(), resolveBusyReason, c.resolveBusy.Load())
}
