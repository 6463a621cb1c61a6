package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnstile-relay/turnstile/relay"
)

// LifetimeBuckets are the upper bounds, in seconds, of
// turnstile_allocation_lifetime_seconds: from a failed call set-up (seconds)
// through the default lifetime (600 s, RFC 8656 §7.2) to day-long sessions
// kept alive by refreshes.
var LifetimeBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400}

// Lifecycle counts allocation lifecycle events: allocations created, ended
// by reason, and the lifetime of each ended one. Feed it from
// relay.Config.Events with Observe, and register it with New.
//
// Observe runs on the relay's packet loops and request path, so it only
// does atomic adds: no lock, no allocation, no blocking. Safe for concurrent
// use.
type Lifecycle struct {
	created  prometheus.Counter
	endedVec *prometheus.CounterVec
	ended    [3]prometheus.Counter // by endReason
	lifetime prometheus.Histogram
}

// End reasons, the label values of turnstile_allocations_ended_total.
const (
	endDeleted = iota // Refresh with LIFETIME 0, or its TCP/TLS connection closed
	endExpired        // its lifetime ran out
	endClosed         // the relay shut down with it still live
)

// NewLifecycle returns a Lifecycle with every series created at zero.
func NewLifecycle() *Lifecycle {
	l := &Lifecycle{
		created: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "turnstile_allocations_created_total",
			Help: "Allocations created (successful Allocate requests).",
		}),
		endedVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "turnstile_allocations_ended_total",
			Help: "Allocations ended, by reason: deleted (Refresh with lifetime 0 or connection closed), expired, closed (relay shut down).",
		}, []string{"reason"}),
		lifetime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "turnstile_allocation_lifetime_seconds",
			Help:    "Lifetime of ended allocations, from creation to end, in seconds.",
			Buckets: LifetimeBuckets,
		}),
	}
	// Children are resolved once here so that Observe does no label lookup.
	l.ended[endDeleted] = l.endedVec.WithLabelValues("deleted")
	l.ended[endExpired] = l.endedVec.WithLabelValues("expired")
	l.ended[endClosed] = l.endedVec.WithLabelValues("closed")
	return l
}

// Observe records one lifecycle event; it has the signature of
// relay.Config.Events. Refreshed events change nothing here (the request
// counters count refreshes). A lifetime is ev.At minus the allocation's
// Created time, both on the mono clock; a negative difference counts as 0.
func (l *Lifecycle) Observe(ev relay.Event) {
	var reason int
	switch ev.Kind {
	case relay.EventCreated:
		l.created.Inc()
		return
	case relay.EventDeleted:
		reason = endDeleted
	case relay.EventExpired:
		reason = endExpired
	case relay.EventClosed:
		reason = endClosed
	default:
		return
	}
	l.ended[reason].Inc()
	if ev.Allocation != nil {
		l.lifetime.Observe(max(ev.At.Sub(ev.Allocation.Created).Seconds(), 0))
	}
}

// Describe implements prometheus.Collector.
func (l *Lifecycle) Describe(ch chan<- *prometheus.Desc) {
	l.created.Describe(ch)
	l.endedVec.Describe(ch)
	l.lifetime.Describe(ch)
}

// Collect implements prometheus.Collector.
func (l *Lifecycle) Collect(ch chan<- prometheus.Metric) {
	l.created.Collect(ch)
	l.endedVec.Collect(ch)
	l.lifetime.Collect(ch)
}
