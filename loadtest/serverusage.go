package loadtest

import (
	"fmt"
	"os"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/loadtest/procstat"
)

// serverMeter reads the server process's CPU time and RSS, and its window
// counter, recording read failures in the usage instead of failing the run.
// A nil *serverMeter (no ServerPID) reads nothing.
type serverMeter struct {
	usage ServerUsage
	// counter is Config.CounterURL's series; nil without one.
	counter *windowCounter
}

func newServerMeter(cfg *Config) *serverMeter {
	if cfg.ServerPID == 0 {
		return nil
	}
	m := &serverMeter{usage: ServerUsage{PID: cfg.ServerPID}}
	c, err := newWindowCounter(cfg)
	if err != nil {
		m.usage.Errors = append(m.usage.Errors, err.Error())
	}
	if c != nil {
		// A first scrape opens the connection the window's scrapes reuse:
		// through namespaces a scrape on a new connection took 25 ms,
		// against 8 ms on an open one, and the window's first probes
		// passed before the counter was read. Its value and errors do not
		// matter: the series may not exist before traffic.
		_, _ = c.read()
	}
	m.counter = c
	return m
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

// rssPoint reads the server's RssAnon while it holds allocations and
// records the point for the slope; a failed read is recorded as an error.
func (m *serverMeter) rssPoint(allocations int) {
	if m == nil {
		return
	}
	v, err := procstat.RSSAnon(m.usage.PID)
	if err != nil {
		m.usage.Errors = append(m.usage.Errors, err.Error())
		return
	}
	m.usage.RSSAnonPoints = append(m.usage.RSSAnonPoints, RSSPoint{Allocations: allocations, RSSAnonBytes: v})
}

// leastSquaresSlope fits bytes = a + slope × allocations through points by
// least squares: the memory each further allocation costs, without the
// fixed part (a fresh server's tables and buffers) that a single reading
// divided by its count would spread over the allocations. ok is false with
// fewer than two distinct allocation counts.
func leastSquaresSlope(points []RSSPoint) (slope float64, ok bool) {
	n := float64(len(points))
	var sx, sy float64
	for _, p := range points {
		sx += float64(p.Allocations)
		sy += float64(p.RSSAnonBytes)
	}
	mx, my := sx/n, sy/n
	var sxx, sxy float64
	for _, p := range points {
		dx := float64(p.Allocations) - mx
		sxx += dx * dx
		sxy += dx * (float64(p.RSSAnonBytes) - my)
	}
	if len(points) < 2 || sxx == 0 {
		return 0, false
	}
	return sxy / sxx, true
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
	// machine is every CPU's work so far, generator this process's CPU
	// time (the load generator with its echo peers).
	machine, generator time.Duration
	// at is when the readings were taken.
	at mono.Time
	// counter is the window counter's value; counted is false without
	// one or when the scrape failed.
	counter float64
	counted bool
}

// begin reads the CPU clocks, the relayed-packet count and the window
// counter at a window start.
func (m *serverMeter) begin(relayed uint64) cpuSpan {
	if m == nil {
		return cpuSpan{}
	}
	s := cpuSpan{start: m.cpu(), relayed: relayed, machine: m.machineCPU(), generator: m.generatorCPU(), at: mono.Now()}
	s.counter, s.counted = m.readCounter()
	return s
}

// readCounter scrapes the window counter, if any.
func (m *serverMeter) readCounter() (float64, bool) {
	if m.counter == nil {
		return 0, false
	}
	v, err := m.counter.read()
	if err != nil {
		m.usage.Errors = append(m.usage.Errors, err.Error())
		return 0, false
	}
	return v, true
}

// endCounter reads the window counter at a window's end, right after the
// CPU clocks, as begin did at its start, so its growth spans the same
// moments as theirs.
func (m *serverMeter) endCounter(s cpuSpan) {
	v, ok := m.readCounter()
	if !ok || !s.counted {
		return
	}
	if v < s.counter {
		// A counter only falls when the server restarted.
		m.usage.Errors = append(m.usage.Errors, fmt.Sprintf("counter: %s fell from %v to %v over the window", m.counter.sel, s.counter, v))
		return
	}
	d := v - s.counter
	m.usage.CounterDelta = &d
}

// checkStart records an error when the readings began later than a
// quarter into the measured window [from, until): the coordinator did not
// get the CPU in time (a starved generator), so the server's CPU and the
// relayed packets would cover a different span than the probes counted.
func (m *serverMeter) checkStart(s cpuSpan, from, until mono.Time) {
	if m == nil {
		return
	}
	if late := s.at.Sub(from); late > until.Sub(from)/4 {
		m.usage.Errors = append(m.usage.Errors, fmt.Sprintf(
			"CPU readings began %v into the %v measured window: the load generator was starved", late.Round(time.Millisecond), until.Sub(from)))
	}
}

// machineCPU reads the work of all CPUs (procstat.MachineCPU).
func (m *serverMeter) machineCPU() time.Duration {
	v, err := procstat.MachineCPU()
	if err != nil {
		m.usage.Errors = append(m.usage.Errors, err.Error())
	}
	return v
}

// generatorCPU reads this process's CPU time.
func (m *serverMeter) generatorCPU() time.Duration {
	v, err := procstat.CPUTime(os.Getpid())
	if err != nil {
		m.usage.Errors = append(m.usage.Errors, err.Error())
	}
	return v
}

// endPackets closes a window of packet traffic: the server's and the whole
// machine's CPU per relayed packet, and the generator's CPU.
func (m *serverMeter) endPackets(s cpuSpan, relayed uint64) {
	if m == nil {
		return
	}
	used := m.cpu() - s.start
	machine := m.machineCPU() - s.machine
	m.usage.GeneratorCPUSeconds = (m.generatorCPU() - s.generator).Seconds()
	m.endCounter(s)
	m.usage.CPUSeconds = used.Seconds()
	m.usage.MachineCPUSeconds = machine.Seconds()
	m.usage.RelayedPackets = relayed - s.relayed
	if m.usage.RelayedPackets > 0 {
		m.usage.CPUPerPacketNanos = float64(used.Nanoseconds()) / float64(m.usage.RelayedPackets)
		m.usage.MachineCPUPerPacketNanos = float64(machine.Nanoseconds()) / float64(m.usage.RelayedPackets)
	}
}

// endBytes closes a window of TCP relaying: the server's and the whole
// machine's CPU per MB (10^6 bytes) relayed, and the generator's CPU.
func (m *serverMeter) endBytes(s cpuSpan, relayedBytes uint64) {
	if m == nil {
		return
	}
	used := m.cpu() - s.start
	machine := m.machineCPU() - s.machine
	m.usage.GeneratorCPUSeconds = (m.generatorCPU() - s.generator).Seconds()
	m.endCounter(s)
	m.usage.CPUSeconds = used.Seconds()
	m.usage.MachineCPUSeconds = machine.Seconds()
	m.usage.RelayedBytes = relayedBytes
	m.usage.CPUPerMBMicros = perMB(used, relayedBytes)
	m.usage.MachineCPUPerMBMicros = perMB(machine, relayedBytes)
}

// endCycles closes a churn window: CPU per successful cycle.
func (m *serverMeter) endCycles(s cpuSpan, cycles uint64) {
	if m == nil {
		return
	}
	used := m.cpu() - s.start
	m.endCounter(s)
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
