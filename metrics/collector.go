package metrics

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/peerpolicy"
	"github.com/turnstile-relay/turnstile/relay"
)

// Source is what the collector reads at scrape time. *relay.Server
// implements it. Both methods must be safe for concurrent use; Stats may
// allocate (it runs once per scrape, not per packet).
type Source interface {
	Stats() relay.Stats
	Draining() bool
}

// relayCollector turns one relay.Stats snapshot per scrape into constant
// metrics. The relay keeps its counters as per-loop atomics; nothing on the
// data path calls Prometheus. Safe for concurrent scrapes (each Collect
// takes its own snapshot).
type relayCollector struct {
	src Source

	dropped, packets, bytes, requests, authFailures, peerDenied *prometheus.Desc
	authChallenges, icmpForwarded, retransmissions              *prometheus.Desc
	allocations, relayedAddrs, permissions, channels            *prometheus.Desc
	tcpConnections, draining                                    *prometheus.Desc
	tcpRelayed, tcpRelayOutcomes, tcpRelayBytes                 *prometheus.Desc
	gatewayVerdicts                                             *prometheus.Desc
	xdpPassed, xdpNotOffloaded                                  *prometheus.Desc
}

func newRelayCollector(src Source) *relayCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &relayCollector{
		src: src,
		dropped: d("turnstile_dropped_total",
			"Datagrams and stream frames discarded, by reason.", "reason"),
		packets: d("turnstile_relayed_packets_total",
			"Application data packets relayed, by direction (to_peer, to_client), client transport (udp, tcp, tls) and datapath (userspace, or xdp: the in-kernel fast path, docs/xdp.md).",
			"direction", "transport", "datapath"),
		bytes: d("turnstile_relayed_bytes_total",
			"Application data bytes relayed (payload only), by direction, client transport and datapath.",
			"direction", "transport", "datapath"),
		xdpPassed: d("turnstile_xdp_passed_total",
			"Frames the XDP fast path passed to the kernel's stack and the userspace relay, by reason (miss, expired, fragment, ...); absent without TURNSTILE_XDP.",
			"reason"),
		xdpNotOffloaded: d("turnstile_xdp_not_offloaded_total",
			"Usable channel bindings the XDP fast path left to userspace, by reason (map_full, transport, cross_family, map_error); absent without TURNSTILE_XDP.",
			"reason"),
		requests: d("turnstile_requests_total",
			"STUN/TURN requests answered, by method and result (success, an error code, or other).",
			"method", "result"),
		authFailures: d("turnstile_auth_failures_total",
			"Requests refused by authentication, by reason; the challenge to a request without credentials is not a failure (turnstile_auth_challenges_total).",
			"reason"),
		authChallenges: d("turnstile_auth_challenges_total",
			"401 challenges to requests without credentials, the normal first leg of every client's authentication (RFC 8489 §9.2.4)."),
		peerDenied: d("turnstile_peer_denied_total",
			"Peer addresses refused by the peer policy, by reason.", "reason"),
		icmpForwarded: d("turnstile_icmp_forwarded_total",
			"ICMP errors forwarded to clients as Data indications (RFC 8656 §11.5), by family (ipv4, ipv6) and type (dest_unreachable, time_exceeded, packet_too_big).",
			"family", "type"),
		retransmissions: d("turnstile_retransmissions_total",
			"Retransmitted requests answered from the transaction cache."),
		allocations: d("turnstile_allocations",
			"Allocations currently in the table."),
		relayedAddrs: d("turnstile_relayed_addresses",
			"Relayed transport addresses of live allocations, by family.", "family"),
		permissions: d("turnstile_permissions",
			"Installed permissions, by peer family.", "family"),
		channels: d("turnstile_channels",
			"Live channel bindings, by peer family.", "family"),
		tcpConnections: d("turnstile_tcp_connections",
			"Open TCP and TLS client connections."),
		tcpRelayed: d("turnstile_tcp_relayed_connections",
			"Relayed TCP connections (RFC 6062) bound to a client data connection and copying bytes now."),
		tcpRelayOutcomes: d("turnstile_tcp_relay_connections_total",
			"Peer connections of TCP relaying by outcome (connected, failed, timeout, accepted, refused, bound, bind_timeout, closed).",
			"outcome"),
		tcpRelayBytes: d("turnstile_tcp_relayed_bytes_total",
			"Bytes relayed over TCP relaying's connections, by direction (to_peer, to_client).", "direction"),
		draining: d("turnstile_draining",
			"1 while the relay drains (refuses new allocations), else 0."),
		gatewayVerdicts: d("turnstile_gateway_verdicts_total",
			"Decisions of the gateway module, by action (send, deliver, refuse, drop, dns, answer, resolve, allow, forbid, pass) and reason (translated, filter_denied, no_records, ...); absent on a relay without gateway.",
			"action", "reason"),
	}
}

// Describe implements prometheus.Collector.
func (c *relayCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.dropped, c.packets, c.bytes, c.requests, c.authFailures, c.authChallenges, c.peerDenied,
		c.icmpForwarded, c.retransmissions, c.allocations, c.relayedAddrs,
		c.permissions, c.channels, c.tcpConnections, c.draining, c.gatewayVerdicts,
		c.xdpPassed, c.xdpNotOffloaded,
		c.tcpRelayed, c.tcpRelayOutcomes, c.tcpRelayBytes,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one Stats snapshot per call.
func (c *relayCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()

	emitCounters(ch, c.dropped, flat(st.Drops))
	emitCounters(ch, c.packets, byDatapath(st.Packets, st.OffloadedPackets))
	emitCounters(ch, c.bytes, byDatapath(st.Bytes, st.OffloadedBytes))
	if st.ObserverCounts != nil {
		emitCounters(ch, c.xdpPassed, flat(st.ObserverCounts["passed"]))
		emitCounters(ch, c.xdpNotOffloaded, flat(st.ObserverCounts["not_offloaded"]))
	}
	emitCounters(ch, c.requests, nested(st.Requests))
	emitCounters(ch, c.authFailures, withZeros(st.AuthFailures, authReasonLabels()))
	ch <- prometheus.MustNewConstMetric(c.authChallenges, prometheus.CounterValue, float64(st.Challenges))
	emitCounters(ch, c.peerDenied, withZeros(st.PeerDenials, peerDenialLabels()))
	emitCounters(ch, c.gatewayVerdicts, nested(st.ExtensionCounts))
	emitCounters(ch, c.icmpForwarded, nested(st.ICMPForwardedByType))
	ch <- prometheus.MustNewConstMetric(c.retransmissions, prometheus.CounterValue, float64(st.Retransmits))

	a := st.Allocations
	ch <- prometheus.MustNewConstMetric(c.allocations, prometheus.GaugeValue, float64(a.Allocations))
	for _, g := range []struct {
		desc  *prometheus.Desc
		count [2]int
	}{
		{c.relayedAddrs, [2]int{a.Relayed.IPv4, a.Relayed.IPv6}},
		{c.permissions, [2]int{a.Permissions.IPv4, a.Permissions.IPv6}},
		{c.channels, [2]int{a.Channels.IPv4, a.Channels.IPv6}},
	} {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(g.count[0]), "ipv4")
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(g.count[1]), "ipv6")
	}
	ch <- prometheus.MustNewConstMetric(c.tcpConnections, prometheus.GaugeValue, float64(st.TCPConnections))
	tr := st.TCPRelay
	ch <- prometheus.MustNewConstMetric(c.tcpRelayed, prometheus.GaugeValue, float64(tr.Relaying))
	emitCounters(ch, c.tcpRelayOutcomes, flat(tr.Outcomes))
	ch <- prometheus.MustNewConstMetric(c.tcpRelayBytes, prometheus.CounterValue, float64(tr.BytesToPeer), "to_peer")
	ch <- prometheus.MustNewConstMetric(c.tcpRelayBytes, prometheus.CounterValue, float64(tr.BytesToClient), "to_client")
	draining := 0.0
	if c.src.Draining() {
		draining = 1
	}
	ch <- prometheus.MustNewConstMetric(c.draining, prometheus.GaugeValue, draining)
}

// emitCounters sends every series of s as a counter of desc. The label
// values are bounded (labels.go), so NewConstMetric cannot fail on them;
// an error would be a programming error in the label count and is reported
// as an invalid metric, which fails that scrape visibly.
func emitCounters(ch chan<- prometheus.Metric, desc *prometheus.Desc, s *series) {
	s.each(func(v float64, lvs []string) {
		m, err := prometheus.NewConstMetric(desc, prometheus.CounterValue, v, lvs...)
		if err != nil {
			m = prometheus.NewInvalidMetric(desc, err)
		}
		ch <- m
	})
}

// flat converts a one-label map, in sorted key order so that the series cap
// keeps the same values on every scrape.
func flat(m map[string]uint64) *series {
	s := newSeries()
	for _, k := range sortedKeys(m) {
		s.add(float64(m[k]), k)
	}
	return s
}

// byDatapath splits relayed counts (direction → transport, the totals)
// into the userspace relay's and the offloaded part; without an observer
// (offloaded nil) every count is userspace and no xdp series exists.
func byDatapath(total, offloaded map[string]map[string]uint64) *series {
	s := newSeries()
	for _, dir := range sortedKeys(total) {
		inner := total[dir]
		for _, t := range sortedKeys(inner) {
			off := offloaded[dir][t]
			s.add(float64(inner[t]-min(off, inner[t])), dir, t, "userspace")
			if offloaded != nil {
				s.add(float64(off), dir, t, "xdp")
			}
		}
	}
	return s
}

// nested converts a two-label map, outer key first.
func nested(m map[string]map[string]uint64) *series {
	s := newSeries()
	for _, outer := range sortedKeys(m) {
		inner := m[outer]
		for _, k := range sortedKeys(inner) {
			s.add(float64(inner[k]), outer, k)
		}
	}
	return s
}

// withZeros is flat with a zero series for every label in zeros that m
// lacks, so rate() and absent() see a series before the first event.
func withZeros(m map[string]uint64, zeros []string) *series {
	s := newSeries()
	for _, k := range zeros {
		if _, ok := m[k]; !ok {
			s.add(0, k)
		}
	}
	for _, k := range sortedKeys(m) {
		s.add(float64(m[k]), k)
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// authReasonLabels are the auth.Reason labels that count as failures: every
// reason but "ok" and the challenge ("no_integrity"), which has its own
// counter.
func authReasonLabels() []string {
	var out []string
	for _, r := range auth.Reasons() {
		if r != auth.ReasonOK && r != auth.ReasonNoIntegrity {
			out = append(out, r.String())
		}
	}
	return out
}

// peerDenialLabels are the default peer filter's denying verdicts.
func peerDenialLabels() []string {
	var out []string
	for v := peerpolicy.Verdict(0); v < peerpolicy.VerdictCount; v++ {
		if !v.Allowed() {
			out = append(out, v.String())
		}
	}
	return out
}
