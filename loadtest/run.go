package loadtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/loadtest/latency"
)

// Run performs one load-test run as cfg describes and returns what it
// measured. The run is bounded: it ends after its setup, warmup, measured
// time and teardown, each bounded by the configuration, and at the latest
// when ctx ends, in which case it still deletes its allocations (within
// RequestTimeout) and returns what it measured so far with ctx's error.
// Allocations that fail to set up are counted in Result.Setup and the run
// goes on with the others; it fails only when none succeeds.
//
// Run is safe to call concurrently with different configurations.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.budget())
	defer cancel()
	t, err := resolveTarget(ctx, &cfg)
	if err != nil {
		return Result{}, err
	}
	r := &runState{cfg: &cfg, target: t, hist: latency.New(histShards)}
	r.win.set(math.MaxInt64, math.MaxInt64) // nothing is measured yet
	res := Result{
		Mode: cfg.Mode, Transport: cfg.Transport, Server: t.addr.String(), SendPath: cfg.SendPath,
		Allocations: cfg.Allocations, PayloadSize: cfg.PayloadSize,
	}
	switch cfg.Mode {
	case ModeClosed:
		res.InFlight = cfg.InFlight
	case ModeOpen:
		res.TargetRate = cfg.Rate
	case ModeRealistic:
		res.TargetRate = offeredRate(cfg.Allocations-cfg.VideoFlows, cfg.VideoFlows)
		res.VideoFlows = cfg.VideoFlows
		res.PayloadSize = 0
	}
	res.GSO = cfg.GSO
	switch cfg.Mode {
	case ModeTCP:
		err = runTCP(ctx, &cfg, t, &res)
	case ModeChurn:
		err = r.churn(ctx, &res)
	default:
		err = r.traffic(ctx, &res)
	}
	return res, err
}

// traffic runs the packet modes: echo peers, setup, measuring, teardown.
func (r *runState) traffic(ctx context.Context, res *Result) error {
	cfg := r.cfg
	meter := newServerMeter(cfg)
	rssBefore := meter.rss()
	echo := externalPeers(cfg.Peers)
	if len(cfg.Peers) == 0 {
		var err error
		echo, err = startEchoPool(cfg.PeerIP, cfg.EchoSockets, maxDataFrame(cfg.maxPayload()), cfg.GSO)
		if err != nil {
			return fmt.Errorf("loadtest: %w", err)
		}
	}
	r.echo = echo
	defer echo.close()

	if err := r.setup(ctx, res, meter); err != nil {
		return err
	}
	defer r.closeSessions()
	rssSetup := meter.rss()

	runErr := r.measure(ctx, res, meter)
	r.teardown(res)
	rssAfter := meter.rss()
	if u := meter.result(); u != nil {
		u.RSSBeforeBytes, u.RSSAfterSetupBytes, u.RSSAfterTeardownBytes = rssBefore, rssSetup, rssAfter
		if rssBefore > 0 && rssSetup > 0 {
			u.RSSPerAllocationBytes = (float64(rssSetup) - float64(rssBefore)) / float64(len(r.sessions))
		}
		if slope, ok := leastSquaresSlope(u.RSSAnonPoints); ok {
			u.RSSAnonSlopeBytes = slope
		}
		res.ServerUsage = u
	}
	return runErr
}

// setup creates the allocations, SetupConcurrency at a time, within
// SetupTimeout. With RSSCheckpoints it creates them in stages, reading the
// server's anonymous resident memory after each (meter may be nil).
func (r *runState) setup(ctx context.Context, res *Result, meter *serverMeter) error {
	cfg := r.cfg
	ctx, cancel := context.WithTimeout(ctx, cfg.SetupTimeout)
	defer cancel()
	start := time.Now()
	setup := &SetupResult{}
	var firstErr error
	from := 0
	for _, upTo := range append(slices.Clone(cfg.RSSCheckpoints), cfg.Allocations) {
		if upTo <= from {
			continue // the last checkpoint was Allocations itself
		}
		if err := r.setupRange(ctx, from, upTo, setup); err != nil && firstErr == nil {
			firstErr = err
		}
		if slices.Contains(cfg.RSSCheckpoints, upTo) {
			meter.rssPoint(len(r.sessions))
		}
		from = upTo
	}
	elapsed := time.Since(start)
	setup.Seconds = elapsed.Seconds()
	setup.Allocated = len(r.sessions)
	setup.AllocationsPerSecond = float64(setup.Allocated) / elapsed.Seconds()
	res.Setup = setup
	if len(r.sessions) == 0 {
		return fmt.Errorf("loadtest: no allocation succeeded; first failure: %w", firstErr)
	}
	return nil
}

// setupRange sets up allocations from..upTo-1, appending the ones that
// succeed to r.sessions and counting failures in setup; it returns the
// first failure.
func (r *runState) setupRange(ctx context.Context, from, upTo int, setup *SetupResult) error {
	cfg := r.cfg
	sessions := make([]*session, upTo-from)
	errs := make([]error, len(sessions))
	sem := make(chan struct{}, cfg.SetupConcurrency)
	var wg sync.WaitGroup
	for k := range sessions {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[k] = &opError{"allocate", errTimeout}
			continue
		}
		i := from + k
		wg.Go(func() {
			defer func() { <-sem }()
			sessions[k], errs[k] = setupSession(ctx, cfg, r.target, i, r.echo.addr(i))
		})
	}
	wg.Wait()
	var firstErr error
	for k, s := range sessions {
		if s != nil {
			r.sessions = append(r.sessions, s)
			continue
		}
		if firstErr == nil {
			firstErr = errs[k]
		}
		mergeCounts(&setup.Failures, map[string]uint64{failureKey(errs[k]): 1})
	}
	return firstErr
}

// measure runs the data phase of the mode with the sampler alongside.
func (r *runState) measure(ctx context.Context, res *Result, meter *serverMeter) error {
	cfg := r.cfg
	if cfg.Mode != ModeClosed {
		k := pacerCount(len(r.sessions))
		r.pacers = make([]pacer, k)
		for i := range r.pacers {
			r.pacers[i].budget = share(cfg.MaxPackets, k)
		}
	}
	// Pacers and loops watch the stop flag, not ctx.
	stopOnCancel := context.AfterFunc(ctx, func() { r.stop.Store(true) })
	defer stopOnCancel()
	start := mono.Now()
	for _, s := range r.sessions {
		if !s.direct { // no allocation to keep alive
			s.refresh.arm(s, cfg.RefreshInterval, start)
		}
	}
	done := make(chan struct{})
	var timeline []Sample
	var sampler sync.WaitGroup
	sampler.Go(func() { timeline = r.sampler(start, done) })

	var err error
	switch cfg.Mode {
	case ModeClosed:
		err = r.closedPhase(ctx, res, meter, start)
	case ModeOpen:
		err = r.openPhase(ctx, res, meter, start, func(start, until mono.Time) { r.runPacers(cfg.Rate, start, until) })
	case ModeRealistic:
		err = r.openPhase(ctx, res, meter, start, r.runFlowPacers)
	case ModeRamp:
		err = r.rampPhase(ctx, res, meter, start)
	}
	r.stopLoops()
	close(done)
	sampler.Wait()
	res.Timeline = timeline
	for _, s := range r.sessions {
		mergeCounts(&res.RefreshFailures, s.refresh.failures)
		res.Refreshes += s.refresh.ok
	}
	return err
}

// share splits a MaxPackets budget n ways (unbounded when 0).
func share(total uint64, n int) uint64 {
	if total == 0 {
		return math.MaxUint64
	}
	return max(1, total/uint64(n))
}

// relayed counts packets the server has relayed: to the echo peers (those
// of this process; external peers count theirs, ServeEcho) and
// back to us.
func (r *runState) relayed() uint64 { return r.echo.total() + r.totals().receivedAll }

// closedPhase runs the closed loops: warmup, then Duration measured. The
// loops are stopped before counting, so the counters and the histogram are
// read at rest and agree.
func (r *runState) closedPhase(ctx context.Context, res *Result, meter *serverMeter, start mono.Time) error {
	cfg := r.cfg
	from := start.Add(cfg.Warmup)
	until := from.Add(cfg.Duration)
	r.win.set(from, until)
	budget := share(cfg.MaxPackets, len(r.sessions))
	finished := make(chan struct{})
	r.startLoops(func(s *session) { newClosedLoop(r, s, budget).run() })
	go func() { r.loops.Wait(); close(finished) }()

	if err := sleepUntil(ctx, from, finished); err != nil && !errors.Is(err, errFinished) {
		return err
	}
	span := meter.begin(r.relayed())
	err := sleepUntil(ctx, until, finished)
	end := min(mono.Now(), until)
	meter.endPackets(span, r.relayed())
	meter.checkStart(span, from, until)
	r.stopLoops()
	seconds := max(0, end.Sub(from).Seconds())
	res.Seconds = seconds
	res.Packets = packetResult(r.totals(), seconds, true)
	res.RTT = latencyResult(r.hist.Snapshot())
	if errors.Is(err, errFinished) {
		return nil
	}
	return err
}

// openPhase sends with send (open-loop pacers at Rate, or the realistic
// flows) for Warmup + Duration, then waits PacketTimeout for the last
// probes, stops the receivers and counts.
func (r *runState) openPhase(ctx context.Context, res *Result, meter *serverMeter, start mono.Time, send func(start, until mono.Time)) error {
	cfg := r.cfg
	from := start.Add(cfg.Warmup)
	until := from.Add(cfg.Duration)
	r.win.set(from, until)
	r.startLoops(r.receiveLoop)
	pacersDone := make(chan struct{})
	go func() { send(start, until); close(pacersDone) }()

	stopPacers := func(err error) error {
		r.stop.Store(true)
		<-pacersDone
		return err
	}
	if err := sleepUntil(ctx, from, pacersDone); err != nil && !errors.Is(err, errFinished) {
		return stopPacers(err)
	}
	span := meter.begin(r.relayed())
	select {
	case <-pacersDone:
	case <-ctx.Done():
		return stopPacers(ctx.Err())
	}
	end := min(mono.Now(), until)
	drainErr := sleepUntil(ctx, mono.Now().Add(cfg.PacketTimeout), nil)
	meter.endPackets(span, r.relayed())
	meter.checkStart(span, from, until)
	r.stopLoops()
	seconds := max(0, end.Sub(from).Seconds())
	res.Seconds = seconds
	res.Packets = packetResult(r.totals(), seconds, false)
	res.RTT = latencyResult(r.hist.Snapshot())
	return drainErr
}

// errFinished reports that the loops ended before the deadline (their
// MaxPackets budget ran out).
var errFinished = errors.New("loops finished")

// sleepUntil waits until the mono instant t, ctx's end (its error), or
// finished closing (errFinished).
func sleepUntil(ctx context.Context, t mono.Time, finished <-chan struct{}) error {
	d := t.Sub(mono.Now())
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-finished:
		return errFinished
	}
}

// teardown deletes every allocation, SetupConcurrency at a time. It uses its
// own context so that a cancelled run still releases the server's
// allocations; each delete is bounded by RequestTimeout.
func (r *runState) teardown(res *Result) {
	cfg := r.cfg
	ctx, cancel := context.WithTimeout(context.Background(), 2*cfg.RequestTimeout+time.Second)
	defer cancel()
	errs := make([]error, len(r.sessions))
	sem := make(chan struct{}, cfg.SetupConcurrency)
	var wg sync.WaitGroup
	for i, s := range r.sessions {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if !s.direct {
				errs[i] = s.cl.deleteAllocation(ctx)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			mergeCounts(&res.TeardownFailures, map[string]uint64{failureKey(err): 1})
		}
	}
}

// closeSessions closes every session's connection.
func (r *runState) closeSessions() {
	for _, s := range r.sessions {
		s.cl.conn.close()
	}
}
