package soak

import (
	"strings"
	"testing"
)

const page = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 37
go_memstats_heap_inuse_bytes 8.306688e+06
go_goroutines_other 99
turnstile_allocations 12
turnstile_tcp_connections 3
turnstile_dropped_total{reason="stream_write_budget"} 1.5e+06
turnstile_dropped_total{reason="with space"} 4
turnstile_dropped_total{reason="stream_source_limit"} 2
`

var wantAll = []string{metricGoroutines, metricAllocations, metricTCPConnections, metricWriteBudgetDrops, metricHeapInuse}

func TestParseMetrics(t *testing.T) {
	got, err := parseMetrics(strings.NewReader(page), wantAll)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{metricHeapInuse: 8306688, metricGoroutines: 37, metricAllocations: 12, metricTCPConnections: 3, metricWriteBudgetDrops: 1.5e6}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// TestParseMetricsRefuses: a wanted series that is missing or not a
// number, and lines that are not the text format, are errors.
func TestParseMetricsRefuses(t *testing.T) {
	tests := map[string]string{
		"missing series":       strings.ReplaceAll(page, "turnstile_allocations 12\n", ""),
		"not a number":         strings.ReplaceAll(page, "go_goroutines 37", "go_goroutines many"),
		"NaN":                  strings.ReplaceAll(page, "go_goroutines 37", "go_goroutines NaN"),
		"no value":             strings.ReplaceAll(page, "go_goroutines 37", "go_goroutines"),
		"unterminated labels":  page + "turnstile_dropped_total{reason=\"x\" 3\n",
		"value-less label set": strings.ReplaceAll(page, "} 1.5e+06", "}"),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if got, err := parseMetrics(strings.NewReader(in), wantAll); err == nil {
				t.Fatalf("accepted: %v", got)
			}
		})
	}
}

// FuzzParseMetrics: any page parses without panic, and whatever it
// returns holds exactly the wanted series.
func FuzzParseMetrics(f *testing.F) {
	f.Add(page)
	f.Add("go_goroutines 1\nturnstile_allocations{} 2\n")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := parseMetrics(strings.NewReader(in), wantAll)
		if err == nil && len(got) != len(wantAll) {
			t.Fatalf("no error but %d of %d series", len(got), len(wantAll))
		}
	})
}
