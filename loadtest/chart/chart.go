// Package chart draws load test results as PNGs with gonum/plot.
//
// WritePNG draws one result: the throughput over time (probes sent and
// received per second, broken where nothing was sent, as between a ramp's
// steps) above, for a ramp, RTT p50/p99 and loss against the offered load
// with one point per step, and otherwise the round-trip-time distribution as
// a CDF on a logarithmic microsecond axis (for churn runs, the
// cycle-duration CDF). WriteLoadPNG draws several servers' latency and loss
// against offered load on one chart. Legends sit in the top left corner,
// with the axes extended so that no data runs under them.
package chart

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/turnstile-relay/turnstile/loadtest"
	"github.com/turnstile-relay/turnstile/loadtest/latency"
)

// Size of the image.
const (
	width       = 20 * vg.Centimeter
	panelHeight = 10 * vg.Centimeter
)

// ErrNothingToPlot is returned for a result without a timeline and without
// latencies.
var ErrNothingToPlot = errors.New("chart: result has no timeline and no latency histogram")

// WritePNG draws res and writes the PNG to w.
func WritePNG(w io.Writer, res *loadtest.Result) error {
	var panels []*plot.Plot
	if len(res.Timeline) > 0 {
		p, err := throughputPlot(res)
		if err != nil {
			return err
		}
		panels = append(panels, p)
	}
	if res.Ramp != nil && len(res.Ramp.Steps) > 0 {
		series := []LoadSeries{RampSeries(fmt.Sprintf("%d allocations", res.Allocations), res.Ramp)}
		rtt, loss, err := loadPlots("ramp", series)
		if err != nil {
			return err
		}
		panels = append(panels, rtt, loss)
	} else if lat, what := latencyOf(res); lat != nil && len(lat.Histogram) > 0 {
		p, err := cdfPlot(lat, what)
		if err != nil {
			return err
		}
		panels = append(panels, p)
	}
	if len(panels) == 0 {
		return ErrNothingToPlot
	}
	return drawStacked(w, panels)
}

// drawStacked draws the plots one below the other, aligned, as one PNG.
func drawStacked(w io.Writer, panels []*plot.Plot) error {
	img := vgimg.New(width, vg.Length(len(panels))*panelHeight)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadTop: vg.Millimeter, PadBottom: vg.Millimeter, PadY: 4 * vg.Millimeter}
	grid := make([][]*plot.Plot, len(panels))
	for i, p := range panels {
		grid[i] = []*plot.Plot{p}
	}
	canvases := plot.Align(grid, tiles, dc)
	for i, p := range panels {
		p.Draw(canvases[i][0])
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// SavePNG draws res into the file at path (created or truncated).
func SavePNG(path string, res *loadtest.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WritePNG(f, res); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// latencyOf picks the distribution to draw and names it.
func latencyOf(res *loadtest.Result) (*loadtest.LatencyResult, string) {
	if res.RTT != nil {
		return res.RTT, "round-trip time"
	}
	if res.Churn != nil && res.Churn.Latency != nil {
		return res.Churn.Latency, "allocate/refresh/delete cycle time"
	}
	return nil, ""
}

func throughputPlot(res *loadtest.Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Throughput — %s loop, %s via %s, %d allocations", res.Mode, res.SendPath, res.Transport, res.Allocations)
	p.X.Label.Text = "time since traffic started (s)"
	p.Y.Label.Text = "probes per second"
	p.Add(plotter.NewGrid())
	var top float64
	for _, s := range res.Timeline {
		top = max(top, s.SentPerSecond, s.ReceivedPerSecond)
	}
	for i, seg := range activeSegments(res.Timeline) {
		sent := make(plotter.XYs, len(seg))
		received := make(plotter.XYs, len(seg))
		for j, s := range seg {
			sent[j] = plotter.XY{X: s.Seconds, Y: s.SentPerSecond}
			received[j] = plotter.XY{X: s.Seconds, Y: s.ReceivedPerSecond}
		}
		for _, series := range []struct {
			name  string
			xys   plotter.XYs
			color color.Color
			dash  []vg.Length
		}{
			{"sent", sent, color.RGBA{R: 200, G: 80, B: 40, A: 255}, []vg.Length{vg.Points(4), vg.Points(3)}},
			{"received", received, color.RGBA{R: 30, G: 90, B: 190, A: 255}, nil},
		} {
			l, err := plotter.NewLine(series.xys)
			if err != nil {
				return nil, fmt.Errorf("chart: %w", err)
			}
			l.Color, l.Dashes, l.Width = series.color, series.dash, vg.Points(1.5)
			p.Add(l)
			if i == 0 {
				p.Legend.Add(series.name, l)
			}
		}
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Min, p.Y.Max = headroom(0, top, 2, false)
	return p, nil
}

// cdfPlot draws the cumulative distribution of a latency histogram: at each
// bucket's upper bound, the fraction of values below it.
func cdfPlot(lat *loadtest.LatencyResult, what string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s CDF — p50 %d µs, p99 %d µs, p99.9 %d µs (%d samples)",
		what, lat.P50Micros, lat.P99Micros, lat.P999Micros, lat.Samples)
	p.X.Label.Text = what + " (µs, log scale)"
	p.Y.Label.Text = "fraction ≤ x"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	l, err := plotter.NewLine(cdfPoints(lat.Histogram))
	if err != nil {
		return nil, fmt.Errorf("chart: %w", err)
	}
	l.Color, l.Width = color.RGBA{R: 30, G: 90, B: 190, A: 255}, vg.Points(1.5)
	p.Add(l)
	p.Y.Min, p.Y.Max = 0, 1
	return p, nil
}

// cdfPoints turns non-empty buckets into CDF points at each bucket's upper
// bound (always ≥ 1 µs, so the log axis is defined), starting from zero at
// the first bucket's lower bound.
func cdfPoints(buckets []latency.Bucket) plotter.XYs {
	var total uint64
	for _, b := range buckets {
		total += b.Count
	}
	pts := make(plotter.XYs, 0, len(buckets)+1)
	pts = append(pts, plotter.XY{X: float64(max(1, buckets[0].Low)), Y: 0})
	var cum uint64
	for _, b := range buckets {
		cum += b.Count
		pts = append(pts, plotter.XY{X: float64(b.High), Y: float64(cum) / float64(total)})
	}
	return pts
}
