package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// Config describes one soak.
type Config struct {
	// RelayBinary is the turnstile binary to start.
	RelayBinary string
	// OutDir receives the run's directory, named after its start time.
	OutDir string
	// Label names what was soaked (a commit), for the result.
	Label string
	// Duration is how long the load runs; Warmup is its first part, after
	// which the series must stay flat; samples are SampleInterval apart.
	Duration       time.Duration
	Warmup         time.Duration
	SampleInterval time.Duration
	Load           Load
	Bounds         Bounds
	// MaxTrafficLoss is the fraction of probes to echo peers that stay
	// which may be lost (a loaded machine's UDP buffers may overflow).
	MaxTrafficLoss float64
	// Progress receives a line per sample; nil for none.
	Progress io.Writer
}

// DefaultConfig is `make soak` for a duration d: a warm-up of a quarter of
// it, at least a minute (half of a short soak) and at most five, and a
// sample every d/60 (1 to 5 s). The relay's Go heap takes its first
// minute or two to reach the size its garbage collector settles at (twice
// the live heap, GOGC=100), which a shorter warm-up would judge as growth.
func DefaultConfig(d time.Duration) Config {
	return Config{
		RelayBinary:    "bin/turnstile",
		OutDir:         "bin/soak",
		Duration:       d,
		Warmup:         min(max(d/4, min(d/2, time.Minute)), 5*time.Minute),
		SampleInterval: min(max(d/60, time.Second), 5*time.Second),
		Load:           DefaultLoad(),
		Bounds: Bounds{
			RSSGrowthBytes: 8 << 20,
			FDs:            48,
			Goroutines:     64,
			Allocations:    24,
			EndSlack:       2,
		},
		MaxTrafficLoss: 0.01,
	}
}

// Validate checks the durations: the soak must have samples after its
// warm-up.
func (c *Config) Validate() error {
	switch {
	case c.RelayBinary == "":
		return errors.New("soak: no relay binary")
	case c.Duration < 30*time.Second || c.Duration > 24*time.Hour:
		return fmt.Errorf("soak: duration %v: must be between 30s and 24h", c.Duration)
	case c.Warmup <= 0 || c.Warmup > c.Duration/2:
		return fmt.Errorf("soak: warm-up %v: must be above 0 and at most half the duration", c.Warmup)
	case c.SampleInterval < 100*time.Millisecond || c.SampleInterval > (c.Duration-c.Warmup)/3:
		return fmt.Errorf("soak: sample interval %v: at least 100ms, and at least three samples after the warm-up", c.SampleInterval)
	}
	return nil
}

// Result is what a soak saw and its verdict; it is written as result.json.
type Result struct {
	Label           string             `json:"label"`
	Started         time.Time          `json:"started"`
	CPUs            int                `json:"cpus"`
	DurationSeconds float64            `json:"duration_s"`
	WarmupSeconds   float64            `json:"warmup_s"`
	SampleSeconds   float64            `json:"sample_interval_s"`
	Load            Load               `json:"load"`
	Bounds          Bounds             `json:"bounds"`
	MaxTrafficLoss  float64            `json:"max_traffic_loss"`
	Levels          map[string]Levels  `json:"levels"`
	Cycles          map[string]Cycles  `json:"cycles"`
	Traffic         map[string]Traffic `json:"traffic"`
	Vanished        Vanished           `json:"vanished_peers"`
	Log             LogSummary         `json:"relay_log"`
	Samples         []Sample           `json:"samples"`
	End             Sample             `json:"end"`
	Violations      []string           `json:"violations"`
	Passed          bool               `json:"passed"`
	Dir             string             `json:"dir"`
}

// LogSummary counts the relay's log lines.
type LogSummary struct {
	SecretsReloaded   int `json:"secrets_reloaded"`
	ResourcesReloaded int `json:"resources_reloaded"`
	Errors            int `json:"errors"`
	Warnings          int `json:"warnings"`
}

// Run starts the relay, loads it for cfg.Duration, samples it, judges the
// samples and writes result.json and soak.png into a new directory under
// cfg.OutDir. The error is for a soak that could not run; a soak that
// ran and failed its criteria returns its Result with Passed false.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	started := time.Now().UTC()
	dir := filepath.Join(cfg.OutDir, started.Format("20060102-150405"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p, err := startRelay(ctx, cfg.RelayBinary, dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if ended, _ := p.exited(); !ended {
			p.kill()
		}
	}()
	res := &Result{
		Label: cfg.Label, Started: started, CPUs: runtime.NumCPU(),
		DurationSeconds: cfg.Duration.Seconds(), WarmupSeconds: cfg.Warmup.Seconds(), SampleSeconds: cfg.SampleInterval.Seconds(),
		Load: cfg.Load, Bounds: cfg.Bounds, MaxTrafficLoss: cfg.MaxTrafficLoss, Dir: dir,
		Cycles: map[string]Cycles{}, Traffic: map[string]Traffic{},
	}
	smp := newSampler(p.pid(), p.metricsURL+"/metrics", time.Now())
	first, err := smp.take(ctx)
	if err != nil {
		return nil, err
	}
	first.Seconds = 0
	res.Samples = append(res.Samples, first)

	// The load generator's runs end by their own Duration (after their
	// setup); abort ends them early when the relay can no longer be
	// sampled. The soak's own loads end with loadCtx.
	abort, abortLoad := context.WithCancel(ctx)
	defer abortLoad()
	loadCtx, stopLoad := context.WithTimeout(abort, cfg.Duration)
	defer stopLoad()
	var mu sync.Mutex
	record := func(f func()) { mu.Lock(); f(); mu.Unlock() }
	var loads sync.WaitGroup
	d, err := newDialer(p, cfg.Duration+time.Hour)
	if err != nil {
		return nil, err
	}
	for _, t := range transports {
		loads.Go(func() {
			tr, c := runTraffic(abort, p, t, cfg.Load, cfg.Duration)
			record(func() { res.Traffic[string(t)], res.Cycles["sessions_"+string(t)] = tr, c })
		})
		loads.Go(func() {
			c := runChurn(abort, p, t, cfg.Load, cfg.Duration)
			record(func() { res.Cycles["churn_"+string(t)] = c })
		})
		loads.Go(func() {
			c, v := vanishingPeers(loadCtx, d, t, cfg.Load)
			record(func() {
				res.Cycles["vanishing_peers_"+string(t)] = c
				res.Vanished.SentToVanished += v.SentToVanished
				res.Vanished.ICMPReceived += v.ICMPReceived
			})
		})
	}
	loads.Go(func() {
		c := stalledClients(loadCtx, d, cfg.Load)
		record(func() { res.Cycles["stalled_readers"] = c })
	})
	loads.Go(func() {
		c := reloads(loadCtx, p, cfg.Load.ReloadEvery)
		record(func() { res.Cycles["reloads"] = c })
	})
	loadsDone := make(chan struct{})
	go func() { loads.Wait(); close(loadsDone) }()

	sampleErr := sampleUntil(loadCtx, smp, cfg, res, &mu)
	if sampleErr != nil {
		abortLoad()
	}
	<-loadsDone
	if sampleErr == nil {
		res.End, sampleErr = settle(ctx, smp, first)
	}
	stopErr := p.stop()
	if counts, err := p.log.scan(); err == nil {
		res.Log = LogSummary{counts.secretsReloaded, counts.resourcesReloaded, counts.errors, counts.warnings}
	}
	res.judge(cfg)
	// A relay that could not be sampled to the end (it died, or the soak
	// was interrupted) fails; what was seen until then is still written.
	for _, err := range []error{sampleErr, stopErr} {
		if err != nil {
			res.Violations = append(res.Violations, err.Error())
			res.Passed = false
		}
	}
	if err := res.write(dir); err != nil {
		return res, err
	}
	return res, nil
}

// sampleUntil samples every cfg.SampleInterval while the load runs
// (until loadCtx ends); the load's own teardown is not judged as flat.
func sampleUntil(loadCtx context.Context, smp *sampler, cfg Config, res *Result, mu *sync.Mutex) error {
	tick := time.NewTicker(cfg.SampleInterval)
	defer tick.Stop()
	for {
		select {
		case <-loadCtx.Done():
			if errors.Is(loadCtx.Err(), context.DeadlineExceeded) {
				return nil
			}
			return loadCtx.Err()
		case <-tick.C:
		}
		s, err := smp.take(loadCtx)
		if err != nil {
			if loadCtx.Err() != nil {
				continue // the load's time ran out during the scrape
			}
			return err
		}
		mu.Lock()
		res.Samples = append(res.Samples, s)
		c := res.Cycles
		mu.Unlock()
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "soak %5.0f s: RssAnon %6.1f MiB (heap %5.1f), %4d fds, %4d goroutines, %4d allocations, %3d streams, %d write-budget drops (%d parts done)\n",
				s.Seconds, float64(s.RSSAnonBytes)/(1<<20), float64(s.HeapInuseBytes)/(1<<20), s.FDs, s.Goroutines, s.Allocations, s.TCPConnections, s.WriteBudgetDrops, len(c))
		}
	}
}

// settle waits (up to 30 s) until the relay's allocations are back to
// their start value and no stream is open, then takes the end sample; a
// relay that never gets there is judged on its last sample.
func settle(ctx context.Context, smp *sampler, start Sample) (Sample, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := smp.take(ctx)
		if err != nil {
			return s, err
		}
		if (s.Allocations == start.Allocations && s.TCPConnections == start.TCPConnections) || time.Now().After(deadline) {
			// One more sample once the closed connections' goroutines
			// have had a moment to end.
			time.Sleep(time.Second)
			return smp.take(ctx)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// reloads rewrites the relay's files and sends SIGHUP every interval
// until ctx ends; a reload succeeds when the relay's log shows both files
// reloaded.
func reloads(ctx context.Context, p *relayProcess, every time.Duration) Cycles {
	var c Cycles
	tick := time.NewTicker(every)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return c
		case <-tick.C:
		}
		if err := p.reload(ctx, n); err != nil {
			if ctx.Err() != nil {
				return c
			}
			c.fail(err.Error())
			return c // the counts in the log no longer line up with n
		}
		c.Attempted++
	}
}

// judge fills in the levels, the violations and the verdict.
func (r *Result) judge(cfg Config) {
	levels, v := Judge(r.Samples, r.End, cfg.Warmup.Seconds(), cfg.Bounds)
	r.Levels = levels
	v = append(v, judgeCycles(r.Cycles)...)
	v = append(v, judgeTraffic(r.Traffic, cfg.MaxTrafficLoss)...)
	if r.End.WriteBudgetDrops == 0 {
		v = append(v, "the relay never dropped for its write budget: the clients that stop reading did not fill it")
	}
	if r.Log.Errors > 0 {
		v = append(v, fmt.Sprintf("the relay logged %d errors", r.Log.Errors))
	}
	r.Violations = v
	r.Passed = len(v) == 0
}

// write saves result.json and soak.png.
func (r *Result) write(dir string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "result.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return savePlot(filepath.Join(dir, "soak.png"), r)
}
