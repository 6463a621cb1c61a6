package chart

import (
	"math"
	"strconv"

	"gonum.org/v1/plot"
)

// ticks125 marks a logarithmic axis at 1, 2 and 5 times each power of ten
// in range, labelled ("20", "500", "2k", "1M"): gonum's LogTicks labels only
// the powers of ten, which leaves a ramp's 1.5× steps or RTTs between 40
// and 900 µs with one label or none. Over more than three decades the
// labels would crowd, and only the powers of ten are marked.
type ticks125 struct{}

// Ticks implements plot.Ticker.
func (ticks125) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0) || !(hi >= lo) {
		return nil
	}
	mantissas := []float64{1, 2, 5}
	if math.Log10(hi)-math.Log10(lo) > 3 {
		mantissas = []float64{1}
	}
	var out []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		p := math.Pow(10, e)
		for _, m := range mantissas {
			if v := m * p; v >= lo*(1-1e-9) && v <= hi*(1+1e-9) {
				out = append(out, plot.Tick{Value: v, Label: shortNumber(v)})
			}
		}
	}
	return out
}

// shortNumber prints v with a k or M suffix for thousands and millions,
// keeping up to three significant digits.
func shortNumber(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e9:
		return strconv.FormatFloat(v/1e9, 'g', 3, 64) + "G"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case a >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
