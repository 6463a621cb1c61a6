package bench

import (
	"math"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/loadtest"
	"github.com/turnstile-relay/turnstile/loadtest/chart"
)

func rampMeasurement(run int, server string, steps ...loadtest.RampStep) Measurement {
	return Measurement{Run: run, Load: "ramp", Server: server, Result: &loadtest.Result{Ramp: &loadtest.RampResult{Steps: steps}}}
}

func step(sent, p50, p99, loss float64, received uint64) loadtest.RampStep {
	return loadtest.RampStep{SentPerSecond: sent, P50Micros: uint64(p50), P99Micros: uint64(p99), LossRatio: loss, Received: received}
}

func TestKneeSeries(t *testing.T) {
	failed := rampMeasurement(3, Turnstile, step(1, 1, 1, 1, 1))
	failed.Error = "turnstile died"
	ms := []Measurement{
		// turnstile: three runs; the third reaches a third step, the
		// second's second step got nothing back.
		rampMeasurement(1, Turnstile, step(1000, 40, 90, 0, 1000), step(1990, 50, 200, 0.01, 1970)),
		rampMeasurement(2, Turnstile, step(1010, 60, 110, 0, 1010), step(2000, 0, 0, 1, 0)),
		rampMeasurement(3, Turnstile, step(990, 50, 100, 0, 990), step(1980, 70, 300, 0.03, 1920), step(3900, 900, 5000, 0.2, 3100)),
		failed,
		rampMeasurement(1, Coturn, step(1000, 80, 150, 0, 1000)),
		// Another load's ramp-shaped result does not count.
		{Run: 1, Load: "closed", Server: Pion, Result: &loadtest.Result{Ramp: &loadtest.RampResult{Steps: []loadtest.RampStep{step(5, 5, 5, 0, 5)}}}},
	}
	got := KneeSeries(ms, "ramp", AllServers)
	want := []chart.LoadSeries{
		{Name: Turnstile, Points: []chart.LoadPoint{
			{Offered: 1000, P50Micros: 50, P99Micros: 100, Loss: 0},
			// RTT over the two runs with probes back: medians of 50, 70 and 200, 300.
			{Offered: 1990, P50Micros: 60, P99Micros: 250, Loss: 0.03},
			{Offered: 3900, P50Micros: 900, P99Micros: 5000, Loss: 0.2},
		}},
		{Name: Coturn, Points: []chart.LoadPoint{{Offered: 1000, P50Micros: 80, P99Micros: 150}}},
	}
	if len(got) != len(want) {
		t.Fatalf("%d series, want %d (pion has no ramp): %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].Name != want[i].Name || len(got[i].Points) != len(want[i].Points) {
			t.Fatalf("series %d = %+v, want %+v", i, got[i], want[i])
		}
		for j := range want[i].Points {
			if g, w := got[i].Points[j], want[i].Points[j]; g != w {
				t.Errorf("%s step %d = %+v, want %+v", want[i].Name, j, g, w)
			}
		}
	}
}

// TestRampLoadIsBounded keeps the ramp's worst case (every step run, then
// drained) within a third of a minute per repetition in the full run, so
// five repetitions cost each server under two minutes, and the quick ramp
// under ten seconds.
func TestRampLoadIsBounded(t *testing.T) {
	for name, tc := range map[string]struct {
		p     LoadParams
		bound time.Duration
	}{"full": {FullParams(), 25 * time.Second}, "quick": {QuickParams(), 10 * time.Second}} {
		var ramp *Load
		for _, l := range Loads(tc.p) {
			if l.Name == "ramp" {
				ramp = &l
			}
		}
		if ramp == nil {
			t.Fatalf("%s: no ramp load", name)
		}
		c := ramp.Config
		steps := int(math.Floor(math.Log(c.RampMaxRate/c.RampStartRate)/math.Log(c.RampFactor)+1e-9)) + 1
		worst := c.Warmup + time.Duration(steps)*(c.RampStepDuration+c.PacketTimeout)
		if worst > tc.bound || steps < 6 {
			t.Errorf("%s: %d steps, worst case %v (bound %v, at least 6 steps for a knee)", name, steps, worst, tc.bound)
		}
		c.Secret = "0123456789abcdef"
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestHighestCleanRate(t *testing.T) {
	r := &loadtest.RampResult{LossLimit: 0.05, Steps: []loadtest.RampStep{
		{TargetRate: 2000, Sent: 1000, SentPerSecond: 2000},
		{TargetRate: 4000, Sent: 1900, SentPerSecond: 3800, LossRatio: 0.01},
		// The generator fell short of 8000/s; the step lost too much.
		{TargetRate: 8000, Sent: 2600, SentPerSecond: 5200, LossRatio: 0.05},
	}}
	if got := highestCleanRate(r); got != 3800 {
		t.Errorf("highestCleanRate = %v, want the second step's 3800 sent/s", got)
	}
	r.Steps[0].LossRatio, r.Steps[1].LossRatio = 0.5, 0.5
	if got := highestCleanRate(r); got != 0 {
		t.Errorf("no clean step: %v", got)
	}
}
