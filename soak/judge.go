package soak

import (
	"fmt"
	"slices"
)

// Sample is one reading of the relay process.
type Sample struct {
	// Seconds since the relay started.
	Seconds float64 `json:"s"`
	// RSSAnonBytes is RssAnon of /proc/PID/status.
	RSSAnonBytes uint64 `json:"rss_anon_bytes"`
	// FDs is the number of entries of /proc/PID/fd.
	FDs int `json:"fds"`
	// Goroutines is go_goroutines from the metrics endpoint.
	Goroutines int `json:"goroutines"`
	// Allocations is the turnstile_allocations gauge.
	Allocations int `json:"allocations"`
	// TCPConnections is the turnstile_tcp_connections gauge.
	TCPConnections int `json:"tcp_connections"`
	// HeapInuseBytes is go_memstats_heap_inuse_bytes, not judged: it tells
	// growth of the Go heap from other growth of RssAnon.
	HeapInuseBytes uint64 `json:"heap_inuse_bytes"`
	// WriteBudgetDrops is turnstile_dropped_total{reason="stream_write_budget"}:
	// peer data the relay did not queue for clients that stopped reading.
	WriteBudgetDrops uint64 `json:"write_budget_drops"`
}

// Bounds are the soak's pass criteria for the sampled series. Levels are
// taken over the second half of the warm-up (see levelOf); every sample
// after the warm-up, up to the end of the load, is held against them, and
// the end sample, taken once the load has stopped and its allocations
// are gone, against the start.
type Bounds struct {
	// RSSGrowthBytes: RssAnon may exceed its warm-up peak by at most this.
	RSSGrowthBytes uint64 `json:"rss_growth_bytes"`
	// FDs and Goroutines: within ± this of their warm-up level.
	FDs        int `json:"fds"`
	Goroutines int `json:"goroutines"`
	// Allocations: within ± this of the warm-up level while the load runs
	// (churn makes it move), and back to the start value at the end.
	Allocations int `json:"allocations"`
	// EndSlack: at the end, descriptors and goroutines at most this above
	// their start values (nothing of the load may be left).
	EndSlack int `json:"end_slack"`
}

// Levels are a series' reference values: at the start, over the warm-up,
// at the end, and the extremes after the warm-up.
type Levels struct {
	Start      float64 `json:"start"`
	Warmup     float64 `json:"after_warmup"`
	Min        float64 `json:"min_after_warmup"`
	Max        float64 `json:"max_after_warmup"`
	End        float64 `json:"end"`
	SamplesAft int     `json:"samples_after_warmup"`
}

// series names, as in the result and the judge's messages.
const (
	seriesRSS         = "rss_anon_bytes"
	seriesFDs         = "fds"
	seriesGoroutines  = "goroutines"
	seriesAllocations = "allocations"
)

// Judge holds the samples against the bounds. during are the samples
// taken while the load ran (the first at the start, before any load);
// end is the sample after the load stopped. It returns each series'
// levels and the violations, one sentence each; none means flat.
func Judge(during []Sample, end Sample, warmup float64, b Bounds) (map[string]Levels, []string) {
	var violations []string
	if len(during) == 0 {
		return nil, []string{"no samples"}
	}
	var after []Sample
	for _, s := range during {
		if s.Seconds >= warmup {
			after = append(after, s)
		}
	}
	// A soak too short to sample after its warm-up shows nothing flat.
	if len(after) < 3 {
		violations = append(violations, fmt.Sprintf("%d samples after the warm-up of %.0f s, want at least 3", len(after), warmup))
	}
	levels := map[string]Levels{}
	get := map[string]func(Sample) float64{
		seriesRSS:         func(s Sample) float64 { return float64(s.RSSAnonBytes) },
		seriesFDs:         func(s Sample) float64 { return float64(s.FDs) },
		seriesGoroutines:  func(s Sample) float64 { return float64(s.Goroutines) },
		seriesAllocations: func(s Sample) float64 { return float64(s.Allocations) },
	}
	for name, f := range get {
		lv := Levels{Start: f(during[0]), End: f(end), SamplesAft: len(after)}
		if name == seriesRSS {
			lv.Warmup = levelOf(during, warmup, f, true)
		} else {
			lv.Warmup = levelOf(during, warmup, f, false)
		}
		for i, s := range after {
			v := f(s)
			if i == 0 || v < lv.Min {
				lv.Min = v
			}
			if i == 0 || v > lv.Max {
				lv.Max = v
			}
		}
		levels[name] = lv
	}
	if len(after) == 0 {
		return levels, violations
	}
	rss := levels[seriesRSS]
	if grown := rss.Max - rss.Warmup; grown > float64(b.RSSGrowthBytes) {
		violations = append(violations, fmt.Sprintf("RssAnon grew %.1f MiB above its warm-up peak of %.1f MiB (bound %.1f MiB)",
			grown/(1<<20), rss.Warmup/(1<<20), float64(b.RSSGrowthBytes)/(1<<20)))
	}
	for _, c := range []struct {
		name  string
		bound int
	}{{seriesFDs, b.FDs}, {seriesGoroutines, b.Goroutines}, {seriesAllocations, b.Allocations}} {
		lv := levels[c.name]
		if lv.Max > lv.Warmup+float64(c.bound) || lv.Min < lv.Warmup-float64(c.bound) {
			violations = append(violations, fmt.Sprintf("%s ranged %.0f to %.0f after the warm-up, outside %.0f ± %d",
				c.name, lv.Min, lv.Max, lv.Warmup, c.bound))
		}
	}
	if a := levels[seriesAllocations]; a.End != a.Start {
		violations = append(violations, fmt.Sprintf("%.0f allocations at the end, %.0f at the start", a.End, a.Start))
	}
	for _, name := range []string{seriesFDs, seriesGoroutines} {
		if lv := levels[name]; lv.End > lv.Start+float64(b.EndSlack) {
			violations = append(violations, fmt.Sprintf("%s at the end %.0f, at the start %.0f (at most %d more)", name, lv.End, lv.Start, b.EndSlack))
		}
	}
	return levels, violations
}

// levelOf is a series' level at the end of the warm-up, from the samples
// in its second half: their peak for memory (the steady state's peaks must
// not rise later; its troughs are a garbage collection's timing), their
// median for counts. With no sample there, the last one before the
// warm-up ends.
func levelOf(samples []Sample, warmup float64, f func(Sample) float64, peak bool) float64 {
	var vs []float64
	last := f(samples[0])
	for _, s := range samples {
		if s.Seconds >= warmup {
			break
		}
		last = f(s)
		if s.Seconds >= warmup/2 {
			vs = append(vs, f(s))
		}
	}
	if len(vs) == 0 {
		return last
	}
	if peak {
		return slices.Max(vs)
	}
	slices.Sort(vs)
	return vs[len(vs)/2]
}

// Cycles counts one kind of cycle: each is a unit of work that must
// succeed whole (allocate, refresh and delete; a reload the relay took; a
// peer replaced and reached; a stalled client reconnected).
type Cycles struct {
	Attempted uint64            `json:"attempted"`
	Failed    uint64            `json:"failed"`
	Failures  map[string]uint64 `json:"failures,omitempty"`
}

// fail counts a failed attempt under key.
func (c *Cycles) fail(key string) {
	c.Attempted++
	c.Failed++
	if c.Failures == nil {
		c.Failures = map[string]uint64{}
	}
	c.Failures[key]++
}

// judgeCycles wants every kind attempted and none failed.
func judgeCycles(cycles map[string]Cycles) []string {
	var violations []string
	names := make([]string, 0, len(cycles))
	for name := range cycles {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		c := cycles[name]
		switch {
		case c.Attempted == 0:
			violations = append(violations, fmt.Sprintf("%s: no cycle attempted", name))
		case c.Failed > 0:
			violations = append(violations, fmt.Sprintf("%s: %d of %d cycles failed %v", name, c.Failed, c.Attempted, c.Failures))
		}
	}
	return violations
}

// Traffic counts probes relayed to echo peers that stay (the vanishing
// peers' losses are counted with them, not here).
type Traffic struct {
	Sent     uint64 `json:"sent"`
	Received uint64 `json:"received"`
	Lost     uint64 `json:"lost"`
}

// judgeTraffic wants traffic on every transport and a loss of at most
// maxLoss (a fraction) of what was sent.
func judgeTraffic(traffic map[string]Traffic, maxLoss float64) []string {
	var violations []string
	names := make([]string, 0, len(traffic))
	for name := range traffic {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		tr := traffic[name]
		switch {
		case tr.Received == 0:
			violations = append(violations, fmt.Sprintf("traffic %s: nothing came back of %d probes", name, tr.Sent))
		case float64(tr.Lost) > maxLoss*float64(tr.Sent):
			violations = append(violations, fmt.Sprintf("traffic %s: %d of %d probes lost, more than %.2g %%", name, tr.Lost, tr.Sent, 100*maxLoss))
		}
	}
	return violations
}
