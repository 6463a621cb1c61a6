package chart

import (
	"math"

	"github.com/turnstile-relay/turnstile/loadtest"
)

// LoadSeries is one server's (or one run's) latency and loss against the
// offered load: what operators compare relays by, where the knee shows.
type LoadSeries struct {
	Name   string
	Points []LoadPoint
}

// LoadPoint is one offered load (one ramp step).
type LoadPoint struct {
	// Offered is the offered load in packets per second.
	Offered float64
	// P50Micros and P99Micros are the RTT percentiles of the probes that
	// came back; 0 when none did (such a point has a loss but no RTT).
	P50Micros, P99Micros float64
	// Loss is the fraction of probes lost.
	Loss float64
}

// RampSeries is a ramp result as a series: one point per step, at the rate
// the step actually sent (its target when it records none), which falls
// short of the target when the generator cannot keep up.
func RampSeries(name string, r *loadtest.RampResult) LoadSeries {
	s := LoadSeries{Name: name}
	for _, st := range r.Steps {
		offered := st.SentPerSecond
		if offered <= 0 {
			offered = st.TargetRate
		}
		s.Points = append(s.Points, LoadPoint{
			Offered: offered, P50Micros: float64(st.P50Micros), P99Micros: float64(st.P99Micros), Loss: st.LossRatio,
		})
	}
	return s
}

// activeSegments splits a timeline into runs of samples in which probes
// were sent. A ramp drains between steps (PacketTimeout with nothing sent),
// and drawing those samples would plunge the curve to zero between every
// step, as if the server had stopped; they are left out and the line breaks
// there instead.
func activeSegments(tl []loadtest.Sample) [][]loadtest.Sample {
	var out [][]loadtest.Sample
	var cur []loadtest.Sample
	for _, s := range tl {
		if s.SentPerSecond > 0 {
			cur = append(cur, s)
			continue
		}
		if len(cur) > 0 {
			out = append(out, cur)
			cur = nil
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// legendRows is the height of one legend entry as a fraction of a panel's
// data area (a 10 cm panel, 12 pt legend text with spacing), used to leave
// room above the data for the legend.
const legendRows = 0.075

// headroom returns the axis range [lo, top] for data spanning lo..hi such
// that the top fraction of the axis stays clear of data, for a legend of
// entries rows drawn in the top corner: on a log axis the room is made in
// log space. hi must be at least lo (and lo above 0 for log).
func headroom(lo, hi float64, entries int, log bool) (float64, float64) {
	clear := min(0.6, legendRows*float64(entries)+0.05)
	if hi <= lo {
		if log {
			hi = lo * 2
		} else {
			hi = lo + 1
		}
	}
	if log {
		span := math.Log10(hi) - math.Log10(lo)
		return lo, math.Pow(10, math.Log10(lo)+span/(1-clear))
	}
	return lo, lo + (hi-lo)/(1-clear)
}
