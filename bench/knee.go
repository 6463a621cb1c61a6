package bench

import (
	"github.com/turnstile-relay/turnstile/loadtest"
	"github.com/turnstile-relay/turnstile/loadtest/chart"
)

// KneeChart is the file, beside report.md, that holds every server's RTT
// and loss against offered load from the ramp load.
const KneeChart = "latency-vs-load.png"

// KneeSeries turns the ramp load's measurements into one series per server
// (in servers' order, servers without a successful ramp left out) with one
// point per ramp step: the medians, over the repetitions that reached the
// step, of the rate actually sent (the offered load, which falls short of
// the step's target when the generator cannot keep up), of the RTT p50 and
// p99 and of the loss. Runs stop at the first step past the loss limit, so
// the last points may rest on fewer runs than the first.
func KneeSeries(ms []Measurement, load string, servers []string) []chart.LoadSeries {
	var out []chart.LoadSeries
	for _, server := range servers {
		var steps [][]loadtest.RampStep // by step index, one entry per run
		for _, m := range ms {
			if m.Load != load || m.Server != server || m.Error != "" || m.Result == nil || m.Result.Ramp == nil {
				continue
			}
			for i, st := range m.Result.Ramp.Steps {
				if i == len(steps) {
					steps = append(steps, nil)
				}
				steps[i] = append(steps[i], st)
			}
		}
		if len(steps) == 0 {
			continue
		}
		s := chart.LoadSeries{Name: server}
		for _, runs := range steps {
			s.Points = append(s.Points, kneePoint(runs))
		}
		out = append(out, s)
	}
	return out
}

// kneePoint is the median point of one step over its runs. The RTT
// percentiles are taken over the runs in which probes came back; a step
// where none did in any run has no RTT (0).
func kneePoint(runs []loadtest.RampStep) chart.LoadPoint {
	var sent, loss, p50, p99 []float64
	for _, st := range runs {
		sent = append(sent, st.SentPerSecond)
		loss = append(loss, st.LossRatio)
		if st.Received > 0 {
			p50 = append(p50, float64(st.P50Micros))
			p99 = append(p99, float64(st.P99Micros))
		}
	}
	pt := chart.LoadPoint{Offered: median(sent), Loss: median(loss)}
	if len(p50) > 0 {
		pt.P50Micros, pt.P99Micros = median(p50), median(p99)
	}
	return pt
}
