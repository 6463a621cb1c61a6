package loadtest

import (
	"time"

	"github.com/turnstile-relay/turnstile/loadtest/procstat"
)

// serverMeter reads the server process's CPU time and RSS, recording read
// failures in the usage instead of failing the run. A nil *serverMeter (no
// ServerPID) reads nothing.
type serverMeter struct {
	usage ServerUsage
}

func newServerMeter(pid int) *serverMeter {
	if pid == 0 {
		return nil
	}
	return &serverMeter{usage: ServerUsage{PID: pid}}
}

func (m *serverMeter) rss() uint64 {
	if m == nil {
		return 0
	}
	v, err := procstat.RSS(m.usage.PID)
	if err != nil {
		m.usage.Errors = append(m.usage.Errors, err.Error())
	}
	return v
}

func (m *serverMeter) cpu() time.Duration {
	if m == nil {
		return 0
	}
	v, err := procstat.CPUTime(m.usage.PID)
	if err != nil {
		m.usage.Errors = append(m.usage.Errors, err.Error())
	}
	return v
}

// cpuSpan is a CPU reading at the start of a window.
type cpuSpan struct {
	start   time.Duration
	relayed uint64
}

// begin reads the CPU clock and the relayed-packet count at a window start.
func (m *serverMeter) begin(relayed uint64) cpuSpan {
	return cpuSpan{start: m.cpu(), relayed: relayed}
}

// endPackets closes a window of packet traffic: CPU per relayed packet.
func (m *serverMeter) endPackets(s cpuSpan, relayed uint64) {
	if m == nil {
		return
	}
	used := m.cpu() - s.start
	m.usage.CPUSeconds = used.Seconds()
	m.usage.RelayedPackets = relayed - s.relayed
	if m.usage.RelayedPackets > 0 {
		m.usage.CPUPerPacketNanos = float64(used.Nanoseconds()) / float64(m.usage.RelayedPackets)
	}
}

// endCycles closes a churn window: CPU per successful cycle.
func (m *serverMeter) endCycles(s cpuSpan, cycles uint64) {
	if m == nil {
		return
	}
	used := m.cpu() - s.start
	m.usage.CPUSeconds = used.Seconds()
	if cycles > 0 {
		m.usage.CPUPerCycleNanos = float64(used.Nanoseconds()) / float64(cycles)
	}
}

// result returns the usage for the Result (nil without a pid).
func (m *serverMeter) result() *ServerUsage {
	if m == nil {
		return nil
	}
	u := m.usage
	return &u
}
