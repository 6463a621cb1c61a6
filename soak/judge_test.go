package soak

import (
	"strings"
	"testing"
	"time"
)

// flat is a soak's samples every 2 s for 60 s that hold still after a
// 20 s warm-up: memory settles at 30 MiB, 40 descriptors, 50 goroutines,
// 20 allocations (19 or 21 as churn moves), having started from 10, 12, 0.
func flat() []Sample {
	var out []Sample
	for t := 0.0; t <= 60; t += 2 {
		s := Sample{Seconds: t, RSSAnonBytes: 30 << 20, FDs: 40, Goroutines: 50, Allocations: 20 + int(t/2)%3 - 1}
		if t == 0 {
			s = Sample{Seconds: 0, RSSAnonBytes: 5 << 20, FDs: 10, Goroutines: 12}
		} else if t < 10 {
			s.RSSAnonBytes = 20 << 20 // still growing in the first half of the warm-up
		}
		out = append(out, s)
	}
	return out
}

var (
	testBounds = Bounds{RSSGrowthBytes: 4 << 20, FDs: 8, Goroutines: 8, Allocations: 4, EndSlack: 2}
	quietEnd   = Sample{Seconds: 70, RSSAnonBytes: 28 << 20, FDs: 11, Goroutines: 13}
)

// TestJudge: series that hold still pass; each kind of drift, leak or
// residue fails with a message naming the series.
func TestJudge(t *testing.T) {
	tests := []struct {
		name   string
		change func(during []Sample, end *Sample)
		want   string // a substring of the one violation; "" for none
	}{
		{"flat", func([]Sample, *Sample) {}, ""},
		{"growth in the warm-up is not counted", func(d []Sample, _ *Sample) { d[1].RSSAnonBytes = 1 << 20 }, ""},
		{"memory peak within the bound", func(d []Sample, _ *Sample) { d[20].RSSAnonBytes = 34 << 20 }, ""},
		{"memory grows beyond the bound", func(d []Sample, _ *Sample) {
			for i := range d[15:] {
				d[15+i].RSSAnonBytes = 30<<20 + uint64(i)<<19 // half a MiB a sample
			}
		}, "RssAnon grew"},
		{"descriptors leak", func(d []Sample, _ *Sample) {
			for i := range d[15:] {
				d[15+i].FDs = 40 + i
			}
		}, "fds ranged"},
		{"descriptors drop below the level", func(d []Sample, _ *Sample) { d[25].FDs = 20 }, "fds ranged 20 to 40"},
		{"goroutines leak", func(d []Sample, _ *Sample) { d[30].Goroutines = 59 }, "goroutines ranged 50 to 59"},
		{"goroutines at the bound", func(d []Sample, _ *Sample) { d[30].Goroutines = 58 }, ""},
		{"allocations pile up", func(d []Sample, _ *Sample) { d[29].Allocations = 30 }, "allocations ranged"},
		{"allocations left at the end", func(_ []Sample, e *Sample) { e.Allocations = 1 }, "1 allocations at the end, 0 at the start"},
		{"descriptors left at the end", func(_ []Sample, e *Sample) { e.FDs = 13 }, "fds at the end 13"},
		{"goroutines left at the end", func(_ []Sample, e *Sample) { e.Goroutines = 15 }, "goroutines at the end 15"},
		{"too short to judge", func(d []Sample, _ *Sample) {
			for i := range d {
				d[i].Seconds /= 10 // the whole soak inside the warm-up
			}
		}, "samples after the warm-up"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			during, end := flat(), quietEnd
			tc.change(during, &end)
			_, got := Judge(during, end, 20, testBounds)
			if tc.want == "" {
				if len(got) != 0 {
					t.Fatalf("violations %q, want none", got)
				}
				return
			}
			if len(got) != 1 || !strings.Contains(got[0], tc.want) {
				t.Fatalf("violations %q, want one containing %q", got, tc.want)
			}
		})
	}
}

// TestJudgeLevels: the table's figures are the start, the warm-up level
// (peak for memory, median for counts over the warm-up's second half),
// the extremes after it and the end.
func TestJudgeLevels(t *testing.T) {
	during := flat()
	during[6].FDs = 44 // t = 12 s, in the second half of the warm-up: not the median
	during[7].RSSAnonBytes = 31 << 20
	levels, violations := Judge(during, quietEnd, 20, testBounds)
	if len(violations) != 0 {
		t.Fatalf("violations %q", violations)
	}
	rss, fds, allocs := levels[seriesRSS], levels[seriesFDs], levels[seriesAllocations]
	if rss.Start != 5<<20 || rss.Warmup != 31<<20 || rss.Max != 30<<20 || rss.End != 28<<20 {
		t.Errorf("rss levels %+v", rss)
	}
	if fds.Warmup != 40 || fds.Start != 10 || fds.End != 11 {
		t.Errorf("fds levels %+v", fds)
	}
	if allocs.Min != 19 || allocs.Max != 21 || allocs.SamplesAft != 21 {
		t.Errorf("allocation levels %+v", allocs)
	}
}

func TestJudgeCycles(t *testing.T) {
	tests := []struct {
		name   string
		cycles map[string]Cycles
		want   []string
	}{
		{"all succeeded", map[string]Cycles{"churn_udp": {Attempted: 100}, "reload": {Attempted: 3}}, nil},
		{"one failed", map[string]Cycles{"churn_udp": {Attempted: 100, Failed: 1, Failures: map[string]uint64{"allocate:508": 1}}},
			[]string{"churn_udp: 1 of 100 cycles failed map[allocate:508:1]"}},
		{"a kind that never ran", map[string]Cycles{"reload": {}, "churn_tcp": {Attempted: 1}}, []string{"reload: no cycle attempted"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := judgeCycles(tc.cycles)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	var c Cycles
	c.fail("dial:transport")
	if c.Attempted != 1 || c.Failed != 1 || c.Failures["dial:transport"] != 1 {
		t.Fatalf("after fail: %+v", c)
	}
}

func TestJudgeTraffic(t *testing.T) {
	tests := []struct {
		name    string
		traffic map[string]Traffic
		want    string
	}{
		{"no loss", map[string]Traffic{"udp": {Sent: 1000, Received: 1000}}, ""},
		{"loss at the bound", map[string]Traffic{"tcp": {Sent: 1000, Received: 990, Lost: 10}}, ""},
		{"loss above the bound", map[string]Traffic{"tls": {Sent: 1000, Received: 989, Lost: 11}}, "traffic tls: 11 of 1000 probes lost"},
		{"nothing back", map[string]Traffic{"udp": {Sent: 5}}, "traffic udp: nothing came back"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := judgeTraffic(tc.traffic, 0.01)
			if tc.want == "" && len(got) == 0 {
				return
			}
			if len(got) != 1 || !strings.Contains(got[0], tc.want) || tc.want == "" {
				t.Fatalf("got %q, want one containing %q", got, tc.want)
			}
		})
	}
}

// TestDefaultWarmup: a quarter of the soak, at least a minute (half of a
// short one), at most five; every default validates.
func TestDefaultWarmup(t *testing.T) {
	for _, tc := range []struct{ d, want time.Duration }{
		{30 * time.Second, 15 * time.Second},
		{2 * time.Minute, time.Minute},
		{8 * time.Minute, 2 * time.Minute},
		{30 * time.Minute, 5 * time.Minute},
	} {
		cfg := DefaultConfig(tc.d)
		if cfg.Warmup != tc.want {
			t.Errorf("%v: warm-up %v, want %v", tc.d, cfg.Warmup, tc.want)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%v: %v", tc.d, err)
		}
	}
}
