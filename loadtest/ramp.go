package loadtest

import (
	"context"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// rampPhase runs open-loop steps of increasing rate on the same allocations.
// Each step sends for RampStepDuration, then waits PacketTimeout so every
// probe of the step is back or lost before the step is counted; the window
// only ever covers one step, so steps never share probes. The ramp stops at
// the first step whose loss reaches RampLossLimit. The result's Packets and
// RTT describe the best step (the last under the limit, else the first).
func (r *runState) rampPhase(ctx context.Context, res *Result, meter *serverMeter, start mono.Time) error {
	cfg := r.cfg
	r.startLoops(r.receiveLoop)
	if err := r.rampWarmup(ctx, start); err != nil {
		return err
	}
	ramp := &RampResult{LossLimit: cfg.RampLossLimit}
	res.Ramp = ramp
	span := meter.begin(r.relayed())
	defer func() { meter.endPackets(span, r.relayed()) }()

	rate := cfg.RampStartRate
	for step := 0; step < cfg.rampSteps(); step++ {
		from := mono.Now()
		until := from.Add(cfg.RampStepDuration)
		before, histBefore := r.totals(), r.hist.Snapshot()
		r.win.set(from, until)
		r.runPacers(rate, from, until)
		if err := sleepUntil(ctx, mono.Now().Add(cfg.PacketTimeout), nil); err != nil {
			return err
		}
		if r.stop.Load() {
			return ctx.Err()
		}
		seconds := cfg.RampStepDuration.Seconds()
		c := r.totals().sub(before)
		h := r.hist.Snapshot().Sub(histBefore)
		pr := packetResult(c, seconds, false)
		res.Seconds += seconds
		ramp.Steps = append(ramp.Steps, RampStep{
			TargetRate: rate, Sent: pr.Sent, Received: pr.Received, LossRatio: pr.LossRatio,
			SentPerSecond: pr.SentPerSecond, ReceivedPerSecond: pr.ReceivedPerSecond,
			P50Micros: h.Percentile(0.5), P99Micros: h.Percentile(0.99),
		})
		underLimit := pr.Sent > 0 && pr.LossRatio < cfg.RampLossLimit
		if underLimit || step == 0 {
			res.Packets, res.RTT = pr, latencyResult(h)
		}
		if !underLimit {
			break
		}
		ramp.MaxRate, ramp.MaxReceivedRate = rate, pr.ReceivedPerSecond
		rate *= cfg.RampFactor
	}
	return nil
}

// rampWarmup sends at the ramp's start rate for Warmup, unmeasured, and
// drains.
func (r *runState) rampWarmup(ctx context.Context, start mono.Time) error {
	if r.cfg.Warmup <= 0 {
		return nil
	}
	r.runPacers(r.cfg.RampStartRate, start, start.Add(r.cfg.Warmup))
	return sleepUntil(ctx, mono.Now().Add(r.cfg.PacketTimeout), nil)
}
