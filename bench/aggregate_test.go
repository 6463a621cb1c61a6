package bench

import (
	"math"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{"one", []float64{7}, 7},
		{"odd unsorted", []float64{5, 1, 3}, 3},
		{"even takes the mean of the middle two", []float64{4, 1, 3, 2}, 2.5},
		{"duplicates", []float64{2, 2, 9, 2, 9}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]float64(nil), tt.in...)
			if got := median(in); got != tt.want {
				t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
			}
			for i := range in {
				if in[i] != tt.in[i] {
					t.Fatalf("median reordered its input: %v, was %v", in, tt.in)
				}
			}
		})
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil) = %v, want NaN", got)
	}
}

func TestSummarize(t *testing.T) {
	samples := []float64{3, 10, 1}
	tests := []struct {
		name   string
		metric Metric
		want   float64
	}{
		{"median", Metric{}, 3},
		{"worst of a lower-is-better count is the highest", Metric{Worst: true, LowerIsBetter: true}, 10},
		{"worst of a higher-is-better value is the lowest", Metric{Worst: true}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := summarize(tt.metric, samples)
			if s.Value != tt.want || s.Min != 1 || s.Max != 10 || len(s.Samples) != 3 {
				t.Errorf("summarize = %+v, want value %v, min 1, max 10, 3 samples", s, tt.want)
			}
		})
	}
}

func TestRatio(t *testing.T) {
	tests := []struct {
		a, b   float64
		want   float64
		wantOK bool
	}{
		{1, 2, 0.5, true},
		{0, 5, 0, true},
		{5, 0, 0, false},
		{math.NaN(), 1, 0, false},
		{1, math.Inf(1), 0, false},
	}
	for _, tt := range tests {
		got, ok := ratio(tt.a, tt.b)
		if ok != tt.wantOK || (ok && got != tt.want) {
			t.Errorf("ratio(%v, %v) = %v, %v; want %v, %v", tt.a, tt.b, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestTargetMet(t *testing.T) {
	tests := []struct {
		name               string
		target             Target
		turnstile, coturn  float64
		haveCoturn         bool
		wantMet, wantKnown bool
	}{
		{"at most, met at the bound", Target{RatioAtMost, 0.6}, 60, 100, true, true, true},
		{"at most, missed", Target{RatioAtMost, 0.6}, 61, 100, true, false, true},
		{"at least, met", Target{RatioAtLeast, 1.5}, 150, 100, true, true, true},
		{"at least, missed", Target{RatioAtLeast, 1.5}, 149, 100, true, false, true},
		{"below is strict", Target{RatioBelow, 1}, 100, 100, true, false, true},
		{"below, met", Target{RatioBelow, 1}, 99, 100, true, true, true},
		{"zero needs no coturn", Target{Kind: Zero}, 0, 0, false, true, true},
		{"zero, missed", Target{Kind: Zero}, 3, 0, true, false, true},
		{"no coturn value, no verdict", Target{RatioAtMost, 0.6}, 1, 0, false, false, false},
		{"coturn at 0, no verdict", Target{RatioAtLeast, 2}, 1, 0, true, false, false},
		{"no target, no verdict", Target{}, 1, 2, true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			met, known := tt.target.Met(tt.turnstile, tt.coturn, tt.haveCoturn)
			if met != tt.wantMet || known != tt.wantKnown {
				t.Errorf("Met = %v, %v; want %v, %v", met, known, tt.wantMet, tt.wantKnown)
			}
		})
	}
}

func TestTargetString(t *testing.T) {
	tests := map[Target]string{
		{}:                   "",
		{RatioAtMost, 0.25}:  "≤ 0.25× coturn",
		{RatioAtLeast, 2}:    "≥ 2× coturn",
		{RatioBelow, 1}:      "< 1× coturn",
		{Kind: Zero}:         "= 0",
		{TargetKind(99), 1}:  "",
		{Kind: RatioAtLeast}: "≥ 0× coturn",
	}
	for target, want := range tests {
		if got := target.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", target, got, want)
		}
	}
}

func TestRatioRange(t *testing.T) {
	tests := []struct {
		name string
		a, b map[int]float64
		want Range
		ok   bool
	}{
		{"paired by run, not by order", map[int]float64{1: 2, 2: 9, 3: 4}, map[int]float64{1: 4, 2: 10, 3: 2}, Range{Min: 0.5, Max: 2, Runs: 3}, true},
		{"runs only one side has are left out", map[int]float64{1: 3, 2: 100}, map[int]float64{1: 6, 3: 1}, Range{Min: 0.5, Max: 0.5, Runs: 1}, true},
		{"a zero denominator is no ratio", map[int]float64{1: 3, 2: 1}, map[int]float64{1: 0, 2: 4}, Range{Min: 0.25, Max: 0.25, Runs: 1}, true},
		{"no common run", map[int]float64{1: 3}, map[int]float64{2: 3}, Range{}, false},
	}
	for _, tt := range tests {
		got, ok := ratioRange(tt.a, tt.b)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("%s: ratioRange = %+v, %v; want %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}
