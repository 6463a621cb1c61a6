package bench

import "github.com/turnstile-relay/turnstile/loadtest"

// The metrics the loads read. Targets are issue 6's "must show" list.
var (
	cpuPerPacket = Metric{
		Key: "cpu_per_packet_ns", Title: "server CPU per relayed packet", Unit: "ns",
		LowerIsBetter: true, Target: Target{Kind: RatioAtMost, Ratio: 0.6},
		Value: fromResult(func(r *loadtest.Result) (float64, bool) {
			if r.ServerUsage == nil || r.ServerUsage.RelayedPackets == 0 {
				return 0, false
			}
			return r.ServerUsage.CPUPerPacketNanos, true
		}),
	}
	throughput = Metric{
		Key: "round_trips_per_s", Title: "throughput (probes echoed)", Unit: "round trips/s",
		Target: Target{Kind: RatioAtLeast, Ratio: 1.5},
		Value: fromResult(func(r *loadtest.Result) (float64, bool) {
			if r.Packets == nil {
				return 0, false
			}
			return r.Packets.ReceivedPerSecond, true
		}),
	}
	serverCores = Metric{
		Key: "server_cores", Title: "server CPU used", Unit: "cores", LowerIsBetter: true,
		Value: fromResult(func(r *loadtest.Result) (float64, bool) {
			if r.ServerUsage == nil || r.Seconds <= 0 {
				return 0, false
			}
			return r.ServerUsage.CPUSeconds / r.Seconds, true
		}),
	}
	lossRatio = Metric{
		Key: "loss_ratio", Title: "probes lost", Unit: "fraction", LowerIsBetter: true, NoRatio: true,
		Value: fromResult(func(r *loadtest.Result) (float64, bool) {
			if r.Packets == nil {
				return 0, false
			}
			return r.Packets.LossRatio, true
		}),
	}
	rttP50 = Metric{
		Key: "rtt_p50_us", Title: "RTT p50", Unit: "µs", LowerIsBetter: true,
		Value: fromResult(rtt(func(l *loadtest.LatencyResult) uint64 { return l.P50Micros })),
	}
	rttP99 = Metric{
		Key: "rtt_p99_us", Title: "RTT p99", Unit: "µs", LowerIsBetter: true,
		Value: fromResult(rtt(func(l *loadtest.LatencyResult) uint64 { return l.P99Micros })),
	}
	rttP999 = Metric{
		Key: "rtt_p999_us", Title: "RTT p99.9", Unit: "µs", LowerIsBetter: true,
		Value: fromResult(rtt(func(l *loadtest.LatencyResult) uint64 { return l.P999Micros })),
	}
	offered = Metric{
		Key: "offered_pps", Title: "offered load (probes sent)", Unit: "packets/s", NoRatio: true,
		Value: fromResult(func(r *loadtest.Result) (float64, bool) {
			if r.Packets == nil {
				return 0, false
			}
			return r.Packets.SentPerSecond, true
		}),
	}
	machineCPUPerPacket = Metric{
		Key: "machine_cpu_per_packet_ns", Title: "whole-machine CPU per relayed packet (all cores, softirq, generator included)", Unit: "ns",
		LowerIsBetter: true,
		Value: fromResult(func(r *loadtest.Result) (float64, bool) {
			if r.ServerUsage == nil || r.ServerUsage.RelayedPackets == 0 || r.ServerUsage.MachineCPUSeconds == 0 {
				return 0, false
			}
			return r.ServerUsage.MachineCPUPerPacketNanos, true
		}),
	}
	generatorCores = Metric{
		Key: "generator_cores", Title: "load generator CPU used (echo peers included)", Unit: "cores", LowerIsBetter: true, NoRatio: true,
		Value: fromResult(func(r *loadtest.Result) (float64, bool) {
			if r.ServerUsage == nil || r.Seconds <= 0 || r.ServerUsage.GeneratorCPUSeconds == 0 {
				return 0, false
			}
			return r.ServerUsage.GeneratorCPUSeconds / r.Seconds, true
		}),
	}
	rttP99Below = Metric{
		Key: "rtt_p99_us", Title: "RTT p99", Unit: "µs", LowerIsBetter: true,
		Target: Target{Kind: RatioBelow, Ratio: 1},
		Value:  rttP99.Value,
	}
	rssPerAllocation = Metric{
		Key: "rss_per_allocation_bytes", Title: "server RssAnon per allocation (slope)", Unit: "bytes",
		LowerIsBetter: true, Target: Target{Kind: RatioAtMost, Ratio: 0.25},
		Value: fromResult(func(r *loadtest.Result) (float64, bool) {
			if r.ServerUsage == nil || len(r.ServerUsage.RSSAnonPoints) < 2 {
				return 0, false
			}
			return r.ServerUsage.RSSAnonSlopeBytes, true
		}),
	}
	setupRate = Metric{
		Key: "setup_per_s", Title: "setup (Allocate ×2 + ChannelBind)", Unit: "allocations/s",
		Value: fromResult(func(r *loadtest.Result) (float64, bool) {
			if r.Setup == nil {
				return 0, false
			}
			return r.Setup.AllocationsPerSecond, true
		}),
	}
	setupFailures = Metric{
		Key: "setup_failures", Title: "allocations that failed to set up", Unit: "count",
		LowerIsBetter: true, Worst: true, NoRatio: true,
		Value: fromResult(func(r *loadtest.Result) (float64, bool) {
			if r.Setup == nil {
				return 0, false
			}
			return float64(sum(r.Setup.Failures)), true
		}),
	}
	setupFailuresZero = withTarget(setupFailures, Target{Kind: Zero})
	timeouts          = Metric{
		Key: "timeouts", Title: "probes timed out (1 s)", Unit: "count",
		LowerIsBetter: true, Worst: true, NoRatio: true, Target: Target{Kind: Zero},
		Value: fromResult(func(r *loadtest.Result) (float64, bool) {
			if r.Packets == nil {
				return 0, false
			}
			return float64(r.Packets.Lost), true
		}),
	}
	throughputNoTarget   = withTarget(throughput, Target{})
	cpuPerPacketNoTarget = withTarget(cpuPerPacket, Target{})
	rcvbufDrops          = Metric{
		Key: "udp_rcvbuf_drops", Title: "UDP receive-buffer drops, whole machine", Unit: "datagrams",
		LowerIsBetter: true, Worst: true, NoRatio: true,
		Value: func(o *Observation) (float64, bool) { return float64(o.RcvbufDrops), o.HaveDrops },
	}
	foreignCPU = Metric{
		Key: "foreign_cores", Title: "CPU of other processes (noise)", Unit: "cores",
		LowerIsBetter: true, Worst: true, NoRatio: true,
		Value: func(o *Observation) (float64, bool) { return o.ForeignCores, o.HaveForeign },
	}
	churnRate = Metric{
		Key: "cycles_per_s", Title: "allocate+refresh+delete cycles", Unit: "cycles/s",
		Target: Target{Kind: RatioAtLeast, Ratio: 2},
		Value: fromResult(func(r *loadtest.Result) (float64, bool) {
			if r.Churn == nil {
				return 0, false
			}
			return r.Churn.CyclesPerSecond, true
		}),
	}
	attemptedCycles = Metric{
		Key: "attempted_cycles", Title: "cycles attempted (failed ones included)", Unit: "count", NoRatio: true,
		Value: fromResult(func(r *loadtest.Result) (float64, bool) {
			if r.Churn == nil {
				return 0, false
			}
			return float64(r.Churn.Attempted), true
		}),
	}
	rampHighestRate = Metric{
		Key: "ramp_max_pps", Title: "highest offered load (sent) losing under 5 %", Unit: "probes/s",
		Value: fromResult(func(r *loadtest.Result) (float64, bool) {
			if r.Ramp == nil || len(r.Ramp.Steps) == 0 {
				return 0, false
			}
			return highestCleanRate(r.Ramp), true
		}),
	}
	rampFirstP99 = Metric{
		Key: "ramp_first_p99_us", Title: "RTT p99 at the lowest offered load", Unit: "µs", LowerIsBetter: true,
		Value: fromResult(func(r *loadtest.Result) (float64, bool) {
			if r.Ramp == nil || len(r.Ramp.Steps) == 0 || r.Ramp.Steps[0].Received == 0 {
				return 0, false
			}
			return float64(r.Ramp.Steps[0].P99Micros), true
		}),
	}
	churnFailures = Metric{
		Key: "failed_cycles", Title: "failed cycles", Unit: "count",
		LowerIsBetter: true, Worst: true, NoRatio: true, Target: Target{Kind: Zero},
		Value: fromResult(func(r *loadtest.Result) (float64, bool) {
			if r.Churn == nil {
				return 0, false
			}
			return float64(r.Churn.Failed), true
		}),
	}
	cpuPerCycle = Metric{
		Key: "cpu_per_cycle_us", Title: "server CPU per cycle", Unit: "µs", LowerIsBetter: true,
		Value: fromResult(func(r *loadtest.Result) (float64, bool) {
			if r.ServerUsage == nil || r.Churn == nil || r.Churn.Cycles == 0 {
				return 0, false
			}
			return r.ServerUsage.CPUPerCycleNanos / 1e3, true
		}),
	}
)

// highestCleanRate is the highest rate a ramp step actually sent while
// losing less than the ramp's limit (0 when none did). The step's target
// would overstate it when the generator cannot send that fast.
func highestCleanRate(r *loadtest.RampResult) float64 {
	var best float64
	for _, st := range r.Steps {
		if st.Sent > 0 && st.LossRatio < r.LossLimit {
			best = max(best, st.SentPerSecond)
		}
	}
	return best
}

// fromResult adapts a reader of the load generator's result to a metric.
func fromResult(read func(*loadtest.Result) (float64, bool)) func(*Observation) (float64, bool) {
	return func(o *Observation) (float64, bool) {
		if o.Result == nil {
			return 0, false
		}
		return read(o.Result)
	}
}

// rtt reads one RTT percentile, when probes came back.
func rtt(pick func(*loadtest.LatencyResult) uint64) func(*loadtest.Result) (float64, bool) {
	return func(r *loadtest.Result) (float64, bool) {
		if r.RTT == nil {
			return 0, false
		}
		return float64(pick(r.RTT)), true
	}
}

func withTarget(m Metric, t Target) Metric {
	m.Target = t
	return m
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}
