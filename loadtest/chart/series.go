package chart

import (
	"fmt"
	"image/color"
	"io"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Panel is one chart of lines over a shared x axis (time, as a rule);
// WriteSeriesPNG stacks panels one below the other.
type Panel struct {
	Title  string
	XLabel string
	YLabel string
	Lines  []Line
}

// Line is one series of a panel. Dashed lines are for limits and markers
// (a bound, the end of a warm-up) rather than measurements.
type Line struct {
	Name   string
	X, Y   []float64
	Dashed bool
}

// palette colours a panel's lines in order.
var palette = []color.Color{
	color.RGBA{R: 30, G: 90, B: 190, A: 255},
	color.RGBA{R: 200, G: 80, B: 40, A: 255},
	color.RGBA{R: 40, G: 150, B: 70, A: 255},
	color.RGBA{R: 120, G: 60, B: 160, A: 255},
	color.RGBA{R: 90, G: 90, B: 90, A: 255},
}

// WriteSeriesPNG draws the panels one below the other and writes the PNG
// to w. Every panel needs a line, every line a point, and X and Y of a line
// the same length.
func WriteSeriesPNG(w io.Writer, panels []Panel) error {
	if len(panels) == 0 {
		return ErrNothingToPlot
	}
	plots := make([]*plot.Plot, len(panels))
	for i := range panels {
		p, err := seriesPlot(&panels[i])
		if err != nil {
			return err
		}
		plots[i] = p
	}
	return drawStacked(w, plots)
}

// SaveSeriesPNG draws the panels into the file at path (created or
// truncated).
func SaveSeriesPNG(path string, panels []Panel) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteSeriesPNG(f, panels); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func seriesPlot(pn *Panel) (*plot.Plot, error) {
	if len(pn.Lines) == 0 {
		return nil, fmt.Errorf("chart: panel %q: %w", pn.Title, ErrNothingToPlot)
	}
	p := plot.New()
	p.Title.Text = pn.Title
	p.X.Label.Text = pn.XLabel
	p.Y.Label.Text = pn.YLabel
	p.Add(plotter.NewGrid())
	for i, ln := range pn.Lines {
		if len(ln.X) != len(ln.Y) || len(ln.X) == 0 {
			return nil, fmt.Errorf("chart: panel %q, line %q: %d x values and %d y values", pn.Title, ln.Name, len(ln.X), len(ln.Y))
		}
		xys := make(plotter.XYs, len(ln.X))
		for j := range ln.X {
			xys[j] = plotter.XY{X: ln.X[j], Y: ln.Y[j]}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, fmt.Errorf("chart: panel %q, line %q: %w", pn.Title, ln.Name, err)
		}
		l.Color, l.Width = palette[i%len(palette)], vg.Points(1.5)
		if ln.Dashed {
			l.Dashes, l.Width = []vg.Length{vg.Points(4), vg.Points(3)}, vg.Points(1)
		}
		p.Add(l)
		p.Legend.Add(ln.Name, l)
	}
	p.Legend.Top = true
	p.Legend.Left = true
	return p, nil
}
