package metrics

import (
	"fmt"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/turnstile-relay/turnstile/relay"
)

func newTestMetrics(t *testing.T, src Source) *Metrics {
	t.Helper()
	m, err := New(src, NewLifecycle(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCollectorReadsStats(t *testing.T) {
	src := &fakeSource{}
	src.set(sampleStats(), true)
	fams := gather(t, newTestMetrics(t, src).Gatherer())
	for _, tc := range []struct {
		name, labels string
		want         float64
	}{
		{"turnstile_dropped_total", "reason=no_permission", 11},
		{"turnstile_dropped_total", "reason=not_turn", 0},
		{"turnstile_relayed_packets_total", "datapath=userspace,direction=to_peer,transport=udp", 100},
		{"turnstile_relayed_packets_total", "datapath=userspace,direction=to_client,transport=tls", 1},
		{"turnstile_relayed_bytes_total", "datapath=userspace,direction=to_client,transport=tcp", 1000},
		{"turnstile_requests_total", "method=allocate,result=success", 1},
		{"turnstile_requests_total", "method=channel_bind,result=401", 1},
		{"turnstile_auth_challenges_total", "", 5},
		{"turnstile_auth_failures_total", "reason=bad_integrity", 2},
		{"turnstile_auth_failures_total", "reason=stale_nonce", 0},
		{"turnstile_peer_denied_total", "reason=loopback", 1},
		{"turnstile_peer_denied_total", "reason=private", 0},
		{"turnstile_icmp_forwarded_total", "family=ipv4,type=dest_unreachable", 2},
		{"turnstile_icmp_forwarded_total", "family=ipv6,type=packet_too_big", 1},
		{"turnstile_icmp_forwarded_total", "family=ipv6,type=time_exceeded", 0},
		{"turnstile_retransmissions_total", "", 4},
		{"turnstile_allocations", "", 7},
		{"turnstile_relayed_addresses", "family=ipv4", 7},
		{"turnstile_relayed_addresses", "family=ipv6", 2},
		{"turnstile_permissions", "family=ipv4", 9},
		{"turnstile_permissions", "family=ipv6", 1},
		{"turnstile_channels", "family=ipv4", 8},
		{"turnstile_channels", "family=ipv6", 0},
		{"turnstile_tcp_connections", "", 6},
		{"turnstile_tcp_relayed_connections", "", 3},
		{"turnstile_tcp_relay_connections_total", "outcome=bound", 12},
		{"turnstile_tcp_relay_connections_total", "outcome=timeout", 0},
		{"turnstile_tcp_relayed_bytes_total", "direction=to_peer", 4096},
		{"turnstile_tcp_relayed_bytes_total", "direction=to_client", 8192},
		{"turnstile_draining", "", 1},
		{"turnstile_allocations_created_total", "", 0},
		{"turnstile_allocations_ended_total", "reason=expired", 0},
		{"turnstile_allocation_lifetime_seconds", "", 0},
	} {
		got, ok := valueOf(fams, tc.name, tc.labels)
		if !ok {
			t.Errorf("%s{%s}: missing", tc.name, tc.labels)
			continue
		}
		if got != tc.want {
			t.Errorf("%s{%s} = %g, want %g", tc.name, tc.labels, got, tc.want)
		}
	}
	for _, reason := range []string{"ok", "no_integrity"} {
		if _, ok := valueOf(fams, "turnstile_auth_failures_total", "reason="+reason); ok {
			t.Errorf("auth reason %q is not a failure and must not be exported as one", reason)
		}
	}
	if _, ok := valueOf(fams, "turnstile_peer_denied_total", "reason=global"); ok {
		t.Error(`allowing verdict "global" must not be pre-created as a denial`)
	}
}

// TestCollectorReadsLiveValues checks that every scrape takes a new
// snapshot: counters move between scrapes without any session ending.
func TestCollectorReadsLiveValues(t *testing.T) {
	src := &fakeSource{}
	m := newTestMetrics(t, src)
	st := sampleStats()
	src.set(st, false)
	before := gather(t, m.Gatherer())
	st.Packets["to_peer"] = map[string]uint64{"udp": 250}
	st.Drops = map[string]uint64{"no_permission": 12}
	src.set(st, false)
	after := gather(t, m.Gatherer())
	for _, tc := range []struct {
		name, labels  string
		before, after float64
	}{
		{"turnstile_relayed_packets_total", "datapath=userspace,direction=to_peer,transport=udp", 100, 250},
		{"turnstile_dropped_total", "reason=no_permission", 11, 12},
		{"turnstile_draining", "", 0, 0},
	} {
		b, _ := valueOf(before, tc.name, tc.labels)
		a, _ := valueOf(after, tc.name, tc.labels)
		if b != tc.before || a != tc.after {
			t.Errorf("%s{%s}: %g then %g, want %g then %g", tc.name, tc.labels, b, a, tc.before, tc.after)
		}
	}
	if src.scrapes != 2 {
		t.Fatalf("Stats called %d times for 2 scrapes, want once per scrape", src.scrapes)
	}
}

// TestCollectorEmptyStats: a zero relay.Stats (nil maps) still exports the
// gauges and the pre-created zero series.
func TestCollectorEmptyStats(t *testing.T) {
	fams := gather(t, newTestMetrics(t, &fakeSource{}).Gatherer())
	for _, tc := range []struct{ name, labels string }{
		{"turnstile_allocations", ""},
		{"turnstile_channels", "family=ipv6"},
		{"turnstile_auth_failures_total", "reason=bad_integrity"},
		{"turnstile_peer_denied_total", "reason=link_local"},
		{"turnstile_draining", ""},
	} {
		if v, ok := valueOf(fams, tc.name, tc.labels); !ok || v != 0 {
			t.Errorf("%s{%s} = %g (present %v), want a zero series", tc.name, tc.labels, v, ok)
		}
	}
}

// TestCollectorBoundsHostileLabels feeds label values a buggy source or
// an embedder's policy could produce: addresses, usernames, free text, and
// far more distinct values than any fixed set.
func TestCollectorBoundsHostileLabels(t *testing.T) {
	st := relay.Stats{
		Drops:        map[string]uint64{"192.0.2.7": 1, "[2001:db8::1]:3478": 1, "no_permission": 1},
		AuthFailures: map[string]uint64{"1700000000:alice": 1, "bob\n{\"severity\":\"ERROR\"}": 1},
		PeerDenials:  map[string]uint64{},
		Requests:     map[string]map[string]uint64{"Allocate": {"10.1.1.1": 1}},
	}
	var total float64
	for i := 0; i < 1000; i++ {
		st.PeerDenials[fmt.Sprintf("reason_%04d", i)] = 1
		total++
	}
	src := &fakeSource{}
	src.set(st, false)
	fams := gather(t, newTestMetrics(t, src).Gatherer())
	for _, mf := range fams {
		if !strings.HasPrefix(mf.GetName(), "turnstile_") {
			continue
		}
		if n := len(mf.GetMetric()); n > maxSeries {
			t.Errorf("%s has %d series, above the cap %d", mf.GetName(), n, maxSeries)
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() != "le" && boundedLabel(lp.GetValue()) != lp.GetValue() {
					t.Errorf("%s{%s}: label value %q is not bounded", mf.GetName(), labelString(m), lp.GetValue())
				}
			}
		}
	}
	for _, tc := range []struct {
		name, labels string
		want         float64
	}{
		{"turnstile_dropped_total", "reason=other", 2},
		{"turnstile_dropped_total", "reason=no_permission", 1},
		{"turnstile_auth_failures_total", "reason=other", 2},
		{"turnstile_requests_total", "method=other,result=other", 1},
	} {
		if got, _ := valueOf(fams, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s{%s} = %g, want %g", tc.name, tc.labels, got, tc.want)
		}
	}
	var sum float64
	for _, m := range fams["turnstile_peer_denied_total"].GetMetric() {
		sum += m.GetCounter().GetValue()
	}
	if sum != total {
		t.Errorf("peer denials sum to %g after capping, want %g", sum, total)
	}
}

// TestMetricNaming checks the naming rules on everything the registry
// exports: our metrics start with turnstile_, counters (and only counters)
// end in _total; the runtime and process collectors keep their standard
// go_ and process_ names.
func TestMetricNaming(t *testing.T) {
	src := &fakeSource{}
	src.set(sampleStats(), false)
	fams := gather(t, newTestMetrics(t, src).Gatherer())
	var ours int
	for name, mf := range fams {
		switch {
		case strings.HasPrefix(name, "turnstile_"):
			ours++
		case strings.HasPrefix(name, "go_"), strings.HasPrefix(name, "process_"):
			continue
		default:
			t.Errorf("%s: unexpected prefix", name)
			continue
		}
		isCounter := mf.GetType() == dto.MetricType_COUNTER
		if isCounter != strings.HasSuffix(name, "_total") {
			t.Errorf("%s: type %v; counters and only counters end in _total", name, mf.GetType())
		}
		if mf.GetHelp() == "" {
			t.Errorf("%s: no help text", name)
		}
	}
	if ours != 21 {
		t.Errorf("%d turnstile_ families, want 21", ours)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if fams[name] == nil {
			t.Errorf("%s missing: runtime and process collectors must be registered", name)
		}
	}
}

func TestNewRequiresSource(t *testing.T) {
	if _, err := New(nil, nil, nil); err == nil {
		t.Fatal("New(nil source) succeeded")
	}
}

// TestRegistriesAreIndependent: two Metrics in one process (two relays in
// one test binary) do not collide, because neither uses a global registry.
func TestRegistriesAreIndependent(t *testing.T) {
	a, b := &fakeSource{}, &fakeSource{}
	sa, sb := sampleStats(), sampleStats()
	sb.Allocations.Allocations = 99
	a.set(sa, false)
	b.set(sb, false)
	ma, mb := newTestMetrics(t, a), newTestMetrics(t, b)
	va, _ := valueOf(gather(t, ma.Gatherer()), "turnstile_allocations", "")
	vb, _ := valueOf(gather(t, mb.Gatherer()), "turnstile_allocations", "")
	if va != 7 || vb != 99 {
		t.Fatalf("allocations %g and %g, want 7 and 99", va, vb)
	}
}

// TestCollectorSplitsDatapaths: with an observer (the XDP fast path) the
// relayed counts split into datapath="userspace" (the total less what the
// observer relayed) and datapath="xdp", and its pass reasons and bindings
// left to userspace appear; without one there is no xdp series at all.
func TestCollectorSplitsDatapaths(t *testing.T) {
	src := &fakeSource{}
	st := sampleStats()
	st.OffloadedPackets = map[string]map[string]uint64{"to_peer": {"udp": 60}, "to_client": {"udp": 0}}
	st.OffloadedBytes = map[string]map[string]uint64{"to_peer": {"udp": 6000}}
	st.ObserverCounts = map[string]map[string]uint64{
		"passed":        {"miss": 4, "fib_forwarding_disabled": 2},
		"not_offloaded": {"map_full": 1},
	}
	src.set(st, false)
	fams := gather(t, newTestMetrics(t, src).Gatherer())
	for _, tc := range []struct {
		name, labels string
		want         float64
	}{
		{"turnstile_relayed_packets_total", "datapath=userspace,direction=to_peer,transport=udp", 40},
		{"turnstile_relayed_packets_total", "datapath=xdp,direction=to_peer,transport=udp", 60},
		{"turnstile_relayed_packets_total", "datapath=xdp,direction=to_client,transport=tls", 0},
		{"turnstile_relayed_bytes_total", "datapath=xdp,direction=to_peer,transport=udp", 6000},
		{"turnstile_xdp_passed_total", "reason=miss", 4},
		{"turnstile_xdp_passed_total", "reason=fib_forwarding_disabled", 2},
		{"turnstile_xdp_not_offloaded_total", "reason=map_full", 1},
	} {
		got, ok := valueOf(fams, tc.name, tc.labels)
		if !ok || got != tc.want {
			t.Errorf("%s{%s} = %v (present %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	if st.Packets["to_peer"]["udp"] != 100 {
		t.Fatalf("sample to_peer udp %d, the test assumes 100", st.Packets["to_peer"]["udp"])
	}

	src.set(sampleStats(), false)
	fams = gather(t, newTestMetrics(t, src).Gatherer())
	if _, ok := valueOf(fams, "turnstile_relayed_packets_total", "datapath=xdp,direction=to_peer,transport=udp"); ok {
		t.Error("an xdp series without an observer")
	}
	if fams["turnstile_xdp_passed_total"] != nil {
		t.Error("turnstile_xdp_passed_total without an observer")
	}
}
