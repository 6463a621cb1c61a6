package bench

import (
	"math"
	"slices"
)

// Summary is one server's values of one metric over the repetitions.
type Summary struct {
	// Value is the median, or the worst value for Metric.Worst.
	Value float64 `json:"value"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	// Samples are the per-repetition values in run order.
	Samples []float64 `json:"samples"`
}

// summarize aggregates samples (at least one) as m asks.
func summarize(m Metric, samples []float64) Summary {
	s := Summary{Samples: samples, Min: slices.Min(samples), Max: slices.Max(samples)}
	switch {
	case m.Worst && m.LowerIsBetter:
		s.Value = s.Max
	case m.Worst:
		s.Value = s.Min
	default:
		s.Value = median(samples)
	}
	return s
}

// median returns the middle value of v (the mean of the two middle values
// for an even count), or NaN for an empty slice. v is not modified.
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 1 {
		return s[mid]
	}
	return (s[mid-1] + s[mid]) / 2
}

// ratio returns a / b, or false when b is 0 or either value is not finite.
func ratio(a, b float64) (float64, bool) {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) || math.IsInf(a, 0) || math.IsInf(b, 0) {
		return 0, false
	}
	return a / b, true
}

// Range is the lowest and highest of Runs values.
type Range struct {
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	Runs int     `json:"runs"`
}

// ratioRange pairs a's and b's values by run and returns the range of the
// ratios a/b over the runs both have (ok false when there is none). Pairing
// by run keeps a repetition's conditions (the machine's load, its rotation
// of the servers' order) on both sides of each ratio.
func ratioRange(a, b map[int]float64) (Range, bool) {
	rg := Range{Min: math.Inf(1), Max: math.Inf(-1)}
	for run, x := range a {
		y, ok := b[run]
		if !ok {
			continue
		}
		if r, ok := ratio(x, y); ok {
			rg.Min, rg.Max = min(rg.Min, r), max(rg.Max, r)
			rg.Runs++
		}
	}
	return rg, rg.Runs > 0
}
