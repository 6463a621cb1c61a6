package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/turnstile-relay/turnstile/loadtest"
)

// Plan is what one benchmark run does.
type Plan struct {
	// Runs is the number of repetitions of every (load, server) pair; the
	// report quotes medians over them.
	Runs int
	// Servers are the server names to run (from AllServers).
	Servers []string
	Loads   []Load
	// Settle is the pause after a server stops, before the next starts.
	Settle time.Duration
	// ServerCPUs, when set, are the CPUs every server is pinned to; the
	// caller pins the load generator (this process) to others with
	// PinThisProcess.
	ServerCPUs []int
}

// Runner runs a Plan. Fill every field before Run.
type Runner struct {
	Binaries Binaries
	Settings ServerSettings
	Plan     Plan
	// Dir receives one directory per measurement with the server's log.
	Dir string
	// Log receives a line per measurement as it ends; nil discards them.
	Log io.Writer
}

// Measurement is one load against one server.
type Measurement struct {
	Run    int    `json:"run"`
	Load   string `json:"load"`
	Server string `json:"server"`
	// Values holds the load's metrics that the result carried, by key.
	Values map[string]float64 `json:"values"`
	// Error is why the measurement failed or is incomplete (empty if not).
	Error  string           `json:"error,omitempty"`
	Result *loadtest.Result `json:"result,omitempty"`
	// Seconds is the wall time of the measurement, server start to stop.
	Seconds float64 `json:"seconds"`
}

// serverStartTimeout bounds a server's start-up (listener answering
// Binding).
const serverStartTimeout = 15 * time.Second

// Run performs the plan and returns every measurement in the order taken.
// A measurement that fails is kept with its error and the run goes on; Run
// returns early only when ctx ends, with ctx's error. Every server it
// starts is stopped before it returns.
func (r *Runner) Run(ctx context.Context) ([]Measurement, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	log := r.Log
	if log == nil {
		log = io.Discard
	}
	var out []Measurement
	for run := 1; run <= r.Plan.Runs; run++ {
		for _, load := range r.Plan.Loads {
			for _, server := range rotate(r.Plan.Servers, run-1) {
				if err := ctx.Err(); err != nil {
					return out, err
				}
				if _, na := load.NotApplicable[server]; na {
					continue
				}
				m := r.measure(ctx, run, load, server)
				out = append(out, m)
				fmt.Fprintln(log, progressLine(m, load))
				if ctx.Err() == nil && r.Plan.Settle > 0 {
					time.Sleep(r.Plan.Settle)
				}
			}
		}
	}
	return out, ctx.Err()
}

func (r *Runner) validate() error {
	if r.Plan.Runs < 1 {
		return fmt.Errorf("bench: Plan.Runs = %d: must be at least 1", r.Plan.Runs)
	}
	if len(r.Plan.Servers) == 0 || len(r.Plan.Loads) == 0 {
		return errors.New("bench: Plan needs at least one server and one load")
	}
	if len(r.Settings.Secret) < 16 {
		return errors.New("bench: ServerSettings.Secret must be at least 16 bytes (turnstile's minimum)")
	}
	if r.Settings.Threads < 1 {
		return fmt.Errorf("bench: ServerSettings.Threads = %d: must be at least 1", r.Settings.Threads)
	}
	return os.MkdirAll(r.Dir, 0o755)
}

// rotate returns s rotated left by k, so each repetition starts with a
// different server.
func rotate(s []string, k int) []string {
	k %= len(s)
	return append(append([]string(nil), s[k:]...), s[:k]...)
}

// measure starts server, runs load against it and stops it.
func (r *Runner) measure(ctx context.Context, run int, load Load, server string) (m Measurement) {
	m = Measurement{Run: run, Load: load.Name, Server: server, Values: map[string]float64{}}
	began := time.Now()
	defer func() { m.Seconds = time.Since(began).Seconds() }()
	fail := func(err error) Measurement {
		m.Error = joinError(m.Error, err)
		return m
	}
	dir := filepath.Join(r.Dir, fmt.Sprintf("run%d-%s-%s", run, load.Name, server))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	port, err := freeUDPPort(turnstilePortMin, coturnPortMax)
	if err != nil {
		return fail(err)
	}
	listen := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
	// TCP relaying needs the servers' TCP listener (on the same port) and
	// their RFC 6062 support switched on; the UDP loads run without them.
	tcp := load.Config.Mode == loadtest.ModeTCP
	cmd, err := serverCommand(server, r.Binaries, r.Settings, listen, dir, tcp)
	if err != nil {
		return fail(err)
	}
	p, err := startProcess(server, cmd, filepath.Join(dir, "server.log"), r.Plan.ServerCPUs)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err := p.stop(); err != nil {
			m.Error = joinError(m.Error, err)
		}
	}()
	if err := p.waitReady(ctx, serverStartTimeout, func(ctx context.Context) error { return stunPing(ctx, listen) }); err != nil {
		return fail(err)
	}

	cfg := load.Config
	cfg.Server = listen.String()
	cfg.Secret = r.Settings.Secret
	cfg.ServerPID = p.pid()
	foreign := newForeignMeter(p.pid())
	cpuBefore, foreignErr := foreign.snapshot()
	dropsBefore, dropsErr := rcvbufErrors()
	res, err := loadtest.Run(ctx, cfg)
	dropsAfter, dropsErr2 := rcvbufErrors()
	m.Result = &res
	obs := Observation{Result: &res}
	if dropsErr == nil && dropsErr2 == nil && dropsAfter >= dropsBefore {
		obs.RcvbufDrops, obs.HaveDrops = dropsAfter-dropsBefore, true
	}
	if foreignErr == nil {
		if cpuAfter, err := foreign.snapshot(); err == nil {
			obs.ForeignCores, obs.HaveForeign = foreign.cores(cpuBefore, cpuAfter), true
		}
	}
	if err != nil {
		m.Error = joinError(m.Error, err)
	}
	if ended, werr := p.exited(); ended {
		m.Error = joinError(m.Error, fmt.Errorf("%s died during the load: %v (log %s)", server, werr, p.logPath))
	}
	if res.ServerUsage != nil && len(res.ServerUsage.Errors) > 0 {
		m.Error = joinError(m.Error, fmt.Errorf("reading the server's usage: %s", res.ServerUsage.Errors[0]))
	}
	for _, metric := range load.Metrics {
		if v, ok := metric.Value(&obs); ok {
			m.Values[metric.Key] = v
		}
	}
	return m
}

func joinError(prev string, err error) string {
	if prev == "" {
		return err.Error()
	}
	return prev + "; " + err.Error()
}

// progressLine is a one-line account of a measurement.
func progressLine(m Measurement, load Load) string {
	s := fmt.Sprintf("run %d %-6s %-9s %5.1fs", m.Run, m.Load, m.Server, m.Seconds)
	for _, metric := range load.Metrics {
		if v, ok := m.Values[metric.Key]; ok {
			s += fmt.Sprintf("  %s=%s", metric.Key, formatValue(v))
		}
	}
	if m.Error != "" {
		s += "  ERROR: " + m.Error
	}
	return s
}
