package metrics

import (
	"testing"
)

// TestExtensionCounts: the relay's gateway verdict counts are exported as
// turnstile_gateway_verdicts_total{action,reason}; a relay without gateway
// exports no series of the family.
func TestExtensionCounts(t *testing.T) {
	src := &fakeSource{}
	st := sampleStats()
	src.set(st, false)
	m := newTestMetrics(t, src)
	if fams := gather(t, m.Gatherer()); len(fams["turnstile_gateway_verdicts_total"].GetMetric()) != 0 {
		t.Fatalf("series without gateway: %v", fams["turnstile_gateway_verdicts_total"])
	}
	st.ExtensionCounts = map[string]map[string]uint64{
		"send":   {"translated": 40, "direct": 2},
		"refuse": {"filter_denied": 3, "no_records": 1},
		"drop":   {"resolve_busy": 5},
	}
	src.set(st, false)
	fams := gather(t, m.Gatherer())
	for _, tc := range []struct {
		labels string
		want   float64
	}{
		{"action=send,reason=translated", 40},
		{"action=send,reason=direct", 2},
		{"action=refuse,reason=filter_denied", 3},
		{"action=refuse,reason=no_records", 1},
		{"action=drop,reason=resolve_busy", 5},
	} {
		got, ok := valueOf(fams, "turnstile_gateway_verdicts_total", tc.labels)
		if !ok || got != tc.want {
			t.Errorf("turnstile_gateway_verdicts_total{%s} = %v (present %v), want %v", tc.labels, got, ok, tc.want)
		}
	}
	if n := len(fams["turnstile_gateway_verdicts_total"].GetMetric()); n != 5 {
		t.Errorf("%d series, want 5", n)
	}
}
