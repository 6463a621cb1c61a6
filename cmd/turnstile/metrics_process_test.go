package main

import (
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/peerpolicy"
	"github.com/turnstile-relay/turnstile/relay"
)

// testSecret is the TURN REST secret of the process tests (alphanumeric,
// so a search for it in the output cannot miss a JSON-escaped form).
const testSecret = "Vq3xT9mZk2LpR7wYc4NbH8sJd6FgA1eU"

// TestMetricsMoveDuringTraffic runs the daemon, scrapes /metrics, relays
// datagrams with pion/turn's client to a loopback echo peer, and scrapes
// again: the counters moved while the allocation was still live, the
// lifecycle metrics moved when it ended, and no label anywhere carries a
// value outside its fixed set.
func TestMetricsMoveDuringTraffic(t *testing.T) {
	t.Parallel()
	p := startDaemon(t, map[string]string{
		"TURNSTILE_AUTH_SECRETS": testSecret,
		"TURNSTILE_PEER_ALLOW":   "127.0.0.0/8",
	})
	before := p.scrape(t)
	checkLabels(t, before, nil)

	const user, trips, size = "metrics-user", 20, 100
	username, password := auth.MintREST([]byte(testSecret), user, time.Hour, time.Now())
	client := pionClient(t, p.udp, username, password)
	relayConn, err := client.Allocate()
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	peer := echoPeer(t)
	roundTrips(t, relayConn, peer, trips, size)
	during := p.scrape(t)
	checkLabels(t, during, []string{username, user, password, relayConn.LocalAddr().String(), peer.String()})

	for _, tc := range []struct {
		name, labels string
		atLeast      float64 // growth from before to during
	}{
		{"turnstile_relayed_packets_total", "datapath=userspace,direction=to_peer,transport=udp", trips},
		{"turnstile_relayed_packets_total", "datapath=userspace,direction=to_client,transport=udp", trips},
		{"turnstile_relayed_bytes_total", "datapath=userspace,direction=to_peer,transport=udp", trips * size},
		{"turnstile_relayed_bytes_total", "datapath=userspace,direction=to_client,transport=udp", trips * size},
		{"turnstile_requests_total", "method=allocate,result=success", 1},
		{"turnstile_requests_total", "method=create_permission,result=success", 1},
		{"turnstile_auth_challenges_total", "", 1},
		{"turnstile_allocations_created_total", "", 1},
	} {
		grew := sample(t, during, tc.name, tc.labels) - sample(t, before, tc.name, tc.labels)
		if grew < tc.atLeast {
			t.Errorf("%s{%s} grew by %g during traffic, want at least %g", tc.name, tc.labels, grew, tc.atLeast)
		}
	}
	for _, tc := range []struct {
		name, labels string
		want         float64
	}{
		{"turnstile_allocations", "", 1},
		{"turnstile_relayed_addresses", "family=ipv4", 1},
		{"turnstile_permissions", "family=ipv4", 1},
		{"turnstile_draining", "", 0},
		{"turnstile_allocations_ended_total", "reason=deleted", 0},
	} {
		if got := sample(t, during, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s{%s} = %g while the allocation is live, want %g", tc.name, tc.labels, got, tc.want)
		}
	}

	// pion's Close sends Refresh with LIFETIME 0 (RFC 8656 §7.3).
	relayConn.Close()
	var after map[string]*dto.MetricFamily
	for deadline := time.Now().Add(5 * time.Second); ; {
		after = p.scrape(t)
		if sample(t, after, "turnstile_allocations", "") == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkLabels(t, after, []string{username, user, password})
	for _, tc := range []struct {
		name, labels string
		want         float64
	}{
		{"turnstile_allocations", "", 0},
		{"turnstile_relayed_addresses", "family=ipv4", 0},
		{"turnstile_allocations_ended_total", "reason=deleted", 1},
		{"turnstile_allocation_lifetime_seconds", "", 1},
	} {
		if got := sample(t, after, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s{%s} = %g after the allocation ended, want %g", tc.name, tc.labels, got, tc.want)
		}
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// labelRule allows a label: a fixed set of values or a pattern.
type labelRule struct {
	values  []string
	pattern *regexp.Regexp
}

func (r labelRule) allows(v string) bool {
	if r.pattern != nil {
		return r.pattern.MatchString(v)
	}
	return slices.Contains(r.values, v)
}

var (
	numberPattern    = regexp.MustCompile(`^(\+Inf|-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?)$`)
	goVersionPattern = regexp.MustCompile(`^go[0-9]+\.[0-9]+(\.[0-9]+)?([a-z0-9.-]*)?$`)
	resultPattern    = regexp.MustCompile(`^(success|other|[3-6][0-9][0-9])$`)
)

// labelAllowList maps each family to its labels and their allowed values.
// A family not listed has no labels. go_ and process_ families may carry
// only the runtime's quantile, le and version labels.
func labelAllowList() map[string]map[string]labelRule {
	with := func(vals []string) labelRule { return labelRule{values: append(vals, "other")} }
	var drops, authReasons, denials []string
	for _, d := range relay.Drops() {
		drops = append(drops, d.String())
	}
	for _, r := range auth.Reasons() {
		authReasons = append(authReasons, r.String())
	}
	for v := peerpolicy.Verdict(0); v < peerpolicy.VerdictCount; v++ {
		denials = append(denials, v.String())
	}
	direction := labelRule{values: []string{"to_peer", "to_client"}}
	transport := labelRule{values: []string{"udp", "tcp", "tls"}}
	family := labelRule{values: []string{"ipv4", "ipv6"}}
	datapath := labelRule{values: []string{"userspace", "xdp"}}
	return map[string]map[string]labelRule{
		"turnstile_dropped_total":         {"reason": with(drops)},
		"turnstile_relayed_packets_total": {"direction": direction, "transport": transport, "datapath": datapath},
		"turnstile_relayed_bytes_total":   {"direction": direction, "transport": transport, "datapath": datapath},
		"turnstile_requests_total": {
			"method": with([]string{"binding", "allocate", "refresh", "create_permission", "channel_bind", "connect", "connection_bind"}),
			"result": {pattern: resultPattern},
		},
		"turnstile_auth_failures_total": {"reason": with(authReasons)},
		"turnstile_peer_denied_total":   {"reason": with(denials)},
		"turnstile_relayed_addresses":   {"family": family},
		"turnstile_permissions":         {"family": family},
		"turnstile_channels":            {"family": family},
		"turnstile_icmp_forwarded_total": {
			"family": family,
			"type":   {values: []string{"dest_unreachable", "time_exceeded", "packet_too_big"}},
		},
		"turnstile_allocations_ended_total": {"reason": {values: []string{"deleted", "expired", "closed"}}},
		"turnstile_tcp_relay_connections_total": {"outcome": {values: []string{
			"connected", "failed", "timeout", "accepted", "refused", "bound", "bind_timeout", "closed",
		}}},
		"turnstile_tcp_relayed_bytes_total":     {"direction": direction},
		"turnstile_allocation_lifetime_seconds": {"le": {pattern: numberPattern}},
	}
}

// checkLabels checks every series of a scrape against labelAllowList, and
// that no label value is an IP address or address:port, or contains one of
// forbidden (usernames, passwords, addresses of this run).
func checkLabels(t *testing.T, fams map[string]*dto.MetricFamily, forbidden []string) {
	t.Helper()
	allow := labelAllowList()
	runtimeRules := map[string]labelRule{
		"quantile": {pattern: numberPattern},
		"le":       {pattern: numberPattern},
		"version":  {pattern: goVersionPattern},
	}
	for name, mf := range fams {
		rules, ok := allow[name]
		switch {
		case strings.HasPrefix(name, "go_"), strings.HasPrefix(name, "process_"):
			rules = runtimeRules
		case !strings.HasPrefix(name, "turnstile_"):
			t.Errorf("family %s: not a turnstile_, go_ or process_ metric", name)
			continue
		case mf.GetType() == dto.MetricType_COUNTER && !strings.HasSuffix(name, "_total"):
			t.Errorf("counter %s does not end in _total", name)
		case !ok:
			rules = nil
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				v := lp.GetValue()
				rule, ok := rules[lp.GetName()]
				if !ok {
					t.Errorf("%s: label %q is not allowed", name, lp.GetName())
					continue
				}
				if !rule.allows(v) {
					t.Errorf("%s{%s=%q}: value outside the allowed set", name, lp.GetName(), v)
				}
				if looksLikeAddress(v) {
					t.Errorf("%s{%s=%q}: label value is an address", name, lp.GetName(), v)
				}
				for _, f := range forbidden {
					if f != "" && strings.Contains(v, f) {
						t.Errorf("%s{%s=%q}: label value carries %q", name, lp.GetName(), v, f)
					}
				}
			}
		}
	}
}

func looksLikeAddress(v string) bool {
	if _, err := netip.ParseAddr(v); err == nil {
		return true
	}
	if _, err := netip.ParseAddrPort(v); err == nil {
		return true
	}
	// Bucket bounds and quantiles are numbers, not dotted quads.
	_, numErr := strconv.ParseFloat(v, 64)
	return numErr != nil && strings.Count(v, ".") == 3
}
