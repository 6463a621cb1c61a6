package bench

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// window builds a fake measurement: cpu nanoseconds of machine CPU for
// delivered of sent datagrams.
func window(run int, path string, cpu time.Duration, sent, delivered, kernel uint64) PathWindow {
	return PathWindow{Run: run, Path: path, MachineCPU: cpu, Sent: sent, Delivered: delivered, KernelRelayed: kernel}
}

// threeRuns: per-packet CPU (ns) direct 1000, xdp 1100/1120/1150,
// userspace 1600/1500/1700, coturn 2000/2100/1900, 10000 delivered each.
func threeRuns() []PathWindow {
	var ws []PathWindow
	xdp := []time.Duration{1100, 1120, 1150}
	user := []time.Duration{1600, 1500, 1700}
	coturn := []time.Duration{2000, 2100, 1900}
	for r := range 3 {
		ws = append(ws,
			window(r, PathDirect, 1000*10000, 10000, 10000, 0),
			window(r, PathXDP, xdp[r]*10000, 10100, 10000, 9990),
			window(r, PathUserspace, user[r]*10000, 10000, 10000, 0),
			window(r, PathCoturn, coturn[r]*10000, 10000, 10000, 0))
	}
	return ws
}

func TestBuildProfileMarginalCPU(t *testing.T) {
	res, err := BuildProfile(threeRuns())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		median, lo, hi float64
		samples        []float64
	}{
		PathXDP:       {120, 100, 150, []float64{100, 120, 150}},
		PathUserspace: {600, 500, 700, []float64{600, 500, 700}},
		PathCoturn:    {1000, 900, 1100, []float64{1000, 1100, 900}},
	}
	if len(res.Rows) != 3 {
		t.Fatalf("%d rows, want 3", len(res.Rows))
	}
	for _, row := range res.Rows {
		w := want[row.Path]
		m := row.Marginal
		if !near(m.Value, w.median) || !near(m.Min, w.lo) || !near(m.Max, w.hi) || len(m.Samples) != 3 {
			t.Errorf("%s: %+v, want median %v (%v–%v)", row.Path, m, w.median, w.lo, w.hi)
		}
		for i := range w.samples {
			if !near(m.Samples[i], w.samples[i]) {
				t.Errorf("%s run %d: %v, want %v", row.Path, i, m.Samples[i], w.samples[i])
			}
		}
	}
	if loss := res.Rows[0].Loss; !near(loss, 100.0/10100) {
		t.Errorf("xdp loss %v, want 100/10100", loss)
	}
	// Ratios paired by run: vs coturn 0.1, 0.109, 0.1667; vs userspace
	// 0.1667, 0.24, 0.2143.
	for _, q := range res.Ratios {
		switch q.Versus {
		case PathCoturn:
			if !near(q.Median, 120.0/1100) || !near(q.Range.Min, 0.1) || !near(q.Range.Max, 150.0/900) || !q.Met || q.Target != 0.2 ||
				!near(q.MeanRatio, 370.0/3000) || !q.HaveInterval || !q.BeyondNoise {
				t.Errorf("xdp/coturn %+v", q)
			}
		case PathUserspace:
			if !near(q.Median, 150.0/700) || !near(q.Range.Min, 100.0/600) || !near(q.Range.Max, 0.24) || !q.Met || q.Target != 0.3 ||
				!near(q.MeanRatio, 370.0/1800) || !q.HaveInterval || !q.BeyondNoise {
				t.Errorf("xdp/userspace %+v", q)
			}
		default:
			t.Errorf("unexpected ratio %+v", q)
		}
	}
	md := res.Markdown()
	for _, s := range []string{
		"| turnstile-xdp | 120 (100–150) | 0.990% |",
		"| coturn | 1000 (900–1100) | 0.000% |",
		"| xdp / coturn | 0.109 (0.100–0.167) | 0.123 [0.100–0.167] | ≤ 0.2× met, the interval too |",
		"| xdp / turnstile-userspace | 0.214 (0.167–0.240) | 0.206 [0.167–0.240] | ≤ 0.3× met, the interval too |",
	} {
		if !strings.Contains(md, s) {
			t.Errorf("markdown lacks %q:\n%s", s, md)
		}
	}
}

// TestBuildProfileIntervalPastTarget: a median within the target whose
// repetitions scatter past it is met, but not beyond the noise, and the
// table says so.
func TestBuildProfileIntervalPastTarget(t *testing.T) {
	ws := threeRuns()
	for i := range ws {
		if ws[i].Path == PathXDP && ws[i].Run == 2 {
			ws[i].MachineCPU = 1600 * 10000 // marginal 600: 0.67× coturn
		}
	}
	res, err := BuildProfile(ws)
	if err != nil {
		t.Fatal(err)
	}
	q := res.Ratios[0]
	if q.Versus != PathCoturn || !q.Met || q.BeyondNoise || !q.HaveInterval || q.Interval.Max <= q.Target {
		t.Fatalf("xdp/coturn %+v: want met by the median, with an interval past 0.2", q)
	}
	if md := res.Markdown(); !strings.Contains(md, "≤ 0.2× met; the interval reaches past it |") {
		t.Fatalf("markdown does not say the interval reaches past the target:\n%s", md)
	}
}

func TestBuildProfileMissesTargetAndRejectsBadRuns(t *testing.T) {
	ws := threeRuns()
	for i := range ws {
		if ws[i].Path == PathXDP {
			ws[i].MachineCPU = 1400 * 10000 // marginal 400: 0.4× coturn
		}
	}
	res, err := BuildProfile(ws)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range res.Ratios {
		if q.Met {
			t.Errorf("ratio %+v met with the xdp path at 400 ns", q)
		}
	}

	for name, breakIt := range map[string]func([]PathWindow) []PathWindow{
		"not through the kernel": func(ws []PathWindow) []PathWindow {
			ws[1].KernelRelayed = 10 // run 0's xdp window
			return ws
		},
		"a run without its baseline": func(ws []PathWindow) []PathWindow {
			return slices.Delete(ws, 4, 5) // run 1's direct window
		},
		"nothing delivered": func(ws []PathWindow) []PathWindow {
			ws[2].Delivered = 0
			return ws
		},
		"no window": func([]PathWindow) []PathWindow { return nil },
	} {
		if _, err := BuildProfile(breakIt(threeRuns())); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestKernelShareIsWindowExact: the XDP window's kernel count must lie
// within 1 % of its datagrams, under by at most 1 % of those delivered
// (the readings' start trailing the window) and over by at most 1 % of
// those sent (a probe lost on its way back is relayed once, delivered
// never). A count that also spans the warm-up is refused like one the
// kernel fell short of.
func TestKernelShareIsWindowExact(t *testing.T) {
	for _, c := range []struct {
		name            string
		sent, delivered uint64
		kernel          uint64
		ok              bool
	}{
		{"every datagram", 10000, 10000, 10000, true},
		{"1 % short", 10000, 10000, 9900, true},
		{"just over 1 % short", 10000, 10000, 9899, false},
		{"two video flows in userspace", 10000, 10000, 9844, false},
		{"all in userspace", 10000, 10000, 0, false},
		{"returns lost: up to the sent count", 10000, 9000, 10000, true},
		{"1 % over the sent count", 10000, 10000, 10100, true},
		{"just over 1 % over", 10000, 10000, 10101, false},
		{"warm-up of 1 s before 5 s counted too", 10000, 10000, 12000, false},
	} {
		w := PathWindow{Run: 0, Path: PathXDP, Sent: c.sent, Delivered: c.delivered, KernelRelayed: c.kernel}
		if err := w.checkKernelShare(); (err == nil) != c.ok {
			t.Errorf("%s (kernel %d, sent %d, delivered %d): %v, want ok=%v", c.name, c.kernel, c.sent, c.delivered, err, c.ok)
		}
		ws := threeRuns()
		ws[1].Sent, ws[1].Delivered, ws[1].KernelRelayed = c.sent, c.delivered, c.kernel // run 0's xdp window
		if _, err := BuildProfile(ws); (err == nil) != c.ok {
			t.Errorf("%s: BuildProfile %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

func TestProfileOrderRotates(t *testing.T) {
	seen := map[string]bool{}
	for run := range len(ProfilePaths) {
		o := ProfileOrder(run)
		seen[o[0]] = true
		if len(o) != len(ProfilePaths) {
			t.Fatalf("run %d: %v", run, o)
		}
	}
	if len(seen) != len(ProfilePaths) {
		t.Fatalf("first datapaths over %d runs: %v, want each once", len(ProfilePaths), seen)
	}
}
