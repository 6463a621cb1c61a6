package metrics

import (
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/relay"
)

// fakeSource is a Source whose snapshot tests set.
type fakeSource struct {
	mu       sync.Mutex
	stats    relay.Stats
	draining bool
	scrapes  int
}

func (f *fakeSource) Stats() relay.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scrapes++
	return f.stats
}

func (f *fakeSource) Draining() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.draining
}

func (f *fakeSource) set(st relay.Stats, draining bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stats, f.draining = st, draining
}

// sampleStats is a relay.Stats shaped like the relay's own: every map
// populated from its fixed label set.
func sampleStats() relay.Stats {
	st := relay.Stats{
		Drops:        map[string]uint64{},
		Packets:      map[string]map[string]uint64{},
		Bytes:        map[string]map[string]uint64{},
		Requests:     map[string]map[string]uint64{},
		AuthFailures: map[string]uint64{"bad_integrity": 2},
		Challenges:   5,
		PeerDenials:  map[string]uint64{"loopback": 1},

		ICMPForwarded: 3,
		ICMPForwardedByType: map[string]map[string]uint64{
			"ipv4": {"dest_unreachable": 2, "time_exceeded": 0, "packet_too_big": 0},
			"ipv6": {"dest_unreachable": 0, "time_exceeded": 0, "packet_too_big": 1},
		},
		Retransmits:    4,
		TCPConnections: 6,
		TCPRelay: relay.TCPRelayStats{
			Relaying: 3,
			Outcomes: map[string]uint64{
				"connected": 10, "failed": 1, "timeout": 0, "accepted": 2, "refused": 0,
				"bound": 12, "bind_timeout": 0, "closed": 9,
			},
			BytesToPeer: 4096, BytesToClient: 8192,
		},
		Allocations: allocation.Stats{
			Allocations: 7,
			Relayed:     allocation.FamilyCount{IPv4: 7, IPv6: 2},
			Permissions: allocation.FamilyCount{IPv4: 9, IPv6: 1},
			Channels:    allocation.FamilyCount{IPv4: 8},
		},
	}
	for _, d := range relay.Drops() {
		st.Drops[d.String()] = 0
	}
	st.Drops["no_permission"] = 11
	for _, dir := range []string{"to_peer", "to_client"} {
		st.Packets[dir] = map[string]uint64{"udp": 100, "tcp": 10, "tls": 1}
		st.Bytes[dir] = map[string]uint64{"udp": 10000, "tcp": 1000, "tls": 100}
	}
	for _, m := range []string{"binding", "allocate", "refresh", "create_permission", "channel_bind"} {
		st.Requests[m] = map[string]uint64{"success": 1, "401": 1, "other": 0}
	}
	return st
}

// gather scrapes reg and returns its families by name.
func gather(t testing.TB, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// labelString renders a metric's labels as "a=x,b=y" (sorted by name).
func labelString(m *dto.Metric) string {
	parts := make([]string, 0, len(m.GetLabel()))
	for _, lp := range m.GetLabel() {
		parts = append(parts, lp.GetName()+"="+lp.GetValue())
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// valueOf returns the value of the series of family name with exactly the
// labels given as "a=x,b=y" ("" for none), and whether it exists.
func valueOf(fams map[string]*dto.MetricFamily, name, labels string) (float64, bool) {
	mf := fams[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		if labelString(m) != labels {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}
