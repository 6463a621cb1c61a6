package loadtest

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// writeProgress prints one live progress line: carriage return, no newline.
func writeProgress(w io.Writer, s Sample, total counts) {
	fmt.Fprintf(w, "\r%7.1fs  sent %10.0f/s  received %10.0f/s  lost %d  late %d   ",
		s.Seconds, s.SentPerSecond, s.ReceivedPerSecond, total.lost, total.late)
}

// WriteSummary writes a short human-readable account of r.
func (r *Result) WriteSummary(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s loop, %s via %s to %s, %d allocations", r.Mode, r.SendPath, r.Transport, r.Server, r.Allocations)
	if r.Mode == ModeClosed {
		fmt.Fprintf(&b, " × %d in flight", r.InFlight)
	}
	if r.Mode == ModeRealistic {
		fmt.Fprintf(&b, " (%d video, %d audio flows, %.0f packets/s offered)", r.VideoFlows, r.Allocations-r.VideoFlows, r.TargetRate)
	} else {
		fmt.Fprintf(&b, ", %d-byte payload", r.PayloadSize)
	}
	if r.GSO {
		b.WriteString(", GSO sends (best case)")
	}
	fmt.Fprintf(&b, ", %.1f s measured\n", r.Seconds)
	if s := r.Setup; s != nil {
		fmt.Fprintf(&b, "setup:    %d allocated in %.2f s (%.0f allocations/s)%s\n", s.Allocated, s.Seconds, s.AllocationsPerSecond, failures(s.Failures))
	}
	if p := r.Packets; p != nil {
		fmt.Fprintf(&b, "packets:  sent %d, received %d, lost %d (%.4f %%), late %d; %.0f received/s\n",
			p.Sent, p.Received, p.Lost, 100*p.LossRatio, p.Late, p.ReceivedPerSecond)
	}
	if l := r.RTT; l != nil {
		fmt.Fprintf(&b, "rtt µs:   p50 %d  p90 %d  p99 %d  p99.9 %d  (min %d, max %d, mean %.1f)\n",
			l.P50Micros, l.P90Micros, l.P99Micros, l.P999Micros, l.MinMicros, l.MaxMicros, l.MeanMicros)
	}
	if c := r.Churn; c != nil {
		fmt.Fprintf(&b, "churn:    %d cycles (%.0f/s), %d failed%s\n", c.Cycles, c.CyclesPerSecond, c.Failed, failures(c.Failures))
		if l := c.Latency; l != nil {
			fmt.Fprintf(&b, "cycle µs: p50 %d  p99 %d  p99.9 %d\n", l.P50Micros, l.P99Micros, l.P999Micros)
		}
	}
	if rp := r.Ramp; rp != nil {
		for _, s := range rp.Steps {
			fmt.Fprintf(&b, "ramp:     target %10.0f/s  received %10.0f/s  loss %.4f %%  p99 %d µs\n", s.TargetRate, s.ReceivedPerSecond, 100*s.LossRatio, s.P99Micros)
		}
		fmt.Fprintf(&b, "ramp:     highest rate under %.2f %% loss: %.0f/s (received %.0f/s)\n", 100*rp.LossLimit, rp.MaxRate, rp.MaxReceivedRate)
	}
	if t := r.TCP; t != nil {
		fmt.Fprintf(&b, "tcp:      %d connections, %d bytes to the peers, %d back; per connection %.1f MB/s median (%.1f–%.1f)\n",
			t.Connections, t.ToPeerBytes, t.FromPeerBytes, t.MedianMBps, t.MinMBps, t.MaxMBps)
	}
	if u := r.ServerUsage; u != nil {
		fmt.Fprintf(&b, "server:   pid %d, %.3f s CPU", u.PID, u.CPUSeconds)
		if u.CPUPerMBMicros > 0 {
			fmt.Fprintf(&b, ", %.0f µs/MB relayed", u.CPUPerMBMicros)
		}
		if u.CPUPerPacketNanos > 0 {
			fmt.Fprintf(&b, ", %.0f ns/relayed packet", u.CPUPerPacketNanos)
		}
		if u.CPUPerCycleNanos > 0 {
			fmt.Fprintf(&b, ", %.0f ns/cycle", u.CPUPerCycleNanos)
		}
		if u.RSSPerAllocationBytes != 0 {
			fmt.Fprintf(&b, ", %.0f B RSS/allocation", u.RSSPerAllocationBytes)
		}
		b.WriteString("\n")
		for _, e := range u.Errors {
			fmt.Fprintf(&b, "server:   %s\n", e)
		}
	}
	if len(r.RefreshFailures) > 0 {
		fmt.Fprintf(&b, "refresh:%s\n", failures(r.RefreshFailures))
	}
	if len(r.TeardownFailures) > 0 {
		fmt.Fprintf(&b, "teardown:%s\n", failures(r.TeardownFailures))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// failures formats a failure map as " (key n, key n)" in key order.
func failures(m map[string]uint64) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return " (failures: " + strings.Join(parts, ", ") + ")"
}
