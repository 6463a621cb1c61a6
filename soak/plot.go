package soak

import (
	"time"

	"github.com/turnstile-relay/turnstile/loadtest/chart"
)

// savePlot draws the four judged series over time, each with the bounds
// it was held to after the warm-up (dashed), into a PNG at path.
func savePlot(path string, r *Result) error {
	all := append(append([]Sample(nil), r.Samples...), r.End)
	xs := make([]float64, len(all))
	for i, s := range all {
		xs[i] = s.Seconds
	}
	series := func(f func(Sample) float64) []float64 {
		ys := make([]float64, len(all))
		for i, s := range all {
			ys[i] = f(s)
		}
		return ys
	}
	// bound is a dashed level from the end of the warm-up to the end.
	bound := func(name string, y float64) chart.Line {
		return chart.Line{Name: name, X: []float64{r.WarmupSeconds, xs[len(xs)-1]}, Y: []float64{y, y}, Dashed: true}
	}
	const mib = 1 << 20
	rss := r.Levels[seriesRSS]
	panel := func(title, ylabel, name string, f func(Sample) float64, lo, hi float64, hasLow bool) chart.Panel {
		p := chart.Panel{
			Title: title, XLabel: "seconds since the relay started (load until " + fmtSeconds(r.DurationSeconds) + ", warm-up " + fmtSeconds(r.WarmupSeconds) + ")", YLabel: ylabel,
			Lines: []chart.Line{{Name: name, X: xs, Y: series(f)}, bound("upper bound", hi)},
		}
		if hasLow {
			p.Lines = append(p.Lines, bound("lower bound", lo))
		}
		return p
	}
	fds, gor, alloc := r.Levels[seriesFDs], r.Levels[seriesGoroutines], r.Levels[seriesAllocations]
	b := r.Bounds
	memory := panel("relay RssAnon and Go heap in use", "MiB", "RssAnon", func(s Sample) float64 { return float64(s.RSSAnonBytes) / mib },
		0, (rss.Warmup+float64(b.RSSGrowthBytes))/mib, false)
	memory.Lines = append(memory.Lines, chart.Line{Name: "heap in use (not judged)", X: xs, Y: series(func(s Sample) float64 { return float64(s.HeapInuseBytes) / mib })})
	return chart.SaveSeriesPNG(path, []chart.Panel{
		memory,
		panel("relay open file descriptors", "descriptors", "fds", func(s Sample) float64 { return float64(s.FDs) },
			fds.Warmup-float64(b.FDs), fds.Warmup+float64(b.FDs), true),
		panel("relay goroutines (go_goroutines)", "goroutines", "goroutines", func(s Sample) float64 { return float64(s.Goroutines) },
			gor.Warmup-float64(b.Goroutines), gor.Warmup+float64(b.Goroutines), true),
		panel("relay allocations (turnstile_allocations)", "allocations", "allocations", func(s Sample) float64 { return float64(s.Allocations) },
			alloc.Warmup-float64(b.Allocations), alloc.Warmup+float64(b.Allocations), true),
	})
}

func fmtSeconds(s float64) string {
	return (time.Duration(s) * time.Second).String()
}
