package chart

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// ErrNoSeries is returned by WriteLoadPNG when no series has a point.
var ErrNoSeries = errors.New("chart: no series with points")

// WriteLoadPNG draws RTT p50 and p99 (above) and loss (below) against the
// offered load for every series, on logarithmic load and RTT axes, and
// writes the PNG to w.
func WriteLoadPNG(w io.Writer, title string, series []LoadSeries) error {
	rtt, loss, err := loadPlots(title, series)
	if err != nil {
		return err
	}
	return drawStacked(w, []*plot.Plot{rtt, loss})
}

// SaveLoadPNG draws the series into the file at path (created or
// truncated).
func SaveLoadPNG(path, title string, series []LoadSeries) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteLoadPNG(f, title, series); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// loadPlots builds the RTT and the loss panel of series.
func loadPlots(title string, series []LoadSeries) (rtt, loss *plot.Plot, err error) {
	rtt, loss = plot.New(), plot.New()
	rtt.Title.Text = title + " — RTT against offered load (solid p50, dashed p99)"
	loss.Title.Text = title + " — probes lost against offered load"
	for _, p := range []*plot.Plot{rtt, loss} {
		p.X.Label.Text = "offered load (probes/s, log scale)"
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = ticks125{}
		p.Add(plotter.NewGrid())
		p.Legend.Top, p.Legend.Left = true, true
	}
	rtt.Y.Label.Text = "RTT (µs, log scale)"
	rtt.Y.Scale = plot.LogScale{}
	rtt.Y.Tick.Marker = ticks125{}
	loss.Y.Label.Text = "lost (%)"

	rttLo, rttHi, lossHi := math.Inf(1), 0.0, 0.0
	var rttEntries, lossEntries int
	for i, s := range series {
		c := palette[i%len(palette)]
		var p50, p99, lost plotter.XYs
		for _, pt := range s.Points {
			lost = append(lost, plotter.XY{X: pt.Offered, Y: 100 * pt.Loss})
			lossHi = max(lossHi, 100*pt.Loss)
			// A step where nothing came back has no RTT to draw.
			if pt.P50Micros > 0 && pt.P99Micros > 0 {
				p50 = append(p50, plotter.XY{X: pt.Offered, Y: pt.P50Micros})
				p99 = append(p99, plotter.XY{X: pt.Offered, Y: pt.P99Micros})
				rttLo, rttHi = min(rttLo, pt.P50Micros), max(rttHi, pt.P99Micros)
			}
		}
		if len(p50) > 0 {
			// One legend entry per series: the title says which line
			// style is which percentile, and a legend twice as tall would
			// need twice the room above the data.
			if err := addLine(rtt, s.Name, p50, c, nil); err != nil {
				return nil, nil, err
			}
			if err := addLine(rtt, "", p99, c, []vg.Length{vg.Points(5), vg.Points(3)}); err != nil {
				return nil, nil, err
			}
			rttEntries++
		}
		if len(lost) > 0 {
			if err := addLine(loss, s.Name, lost, c, nil); err != nil {
				return nil, nil, err
			}
			lossEntries++
		}
	}
	if lossEntries == 0 {
		return nil, nil, ErrNoSeries
	}
	if rttEntries > 0 {
		rtt.Y.Min, rtt.Y.Max = headroom(rttLo, rttHi, rttEntries, true)
	}
	loss.Y.Min, loss.Y.Max = headroom(0, lossHi, lossEntries, false)
	return rtt, loss, nil
}

// addLine adds a line with a dot at every point, named in the legend unless
// name is empty.
func addLine(p *plot.Plot, name string, xys plotter.XYs, c color.Color, dashes []vg.Length) error {
	l, pts, err := plotter.NewLinePoints(xys)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	l.Color, l.Dashes, l.Width = c, dashes, vg.Points(1.5)
	pts.Color, pts.Radius = c, vg.Points(2)
	p.Add(l, pts)
	if name != "" {
		p.Legend.Add(name, l, pts)
	}
	return nil
}
