package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/loadtest/turnwire"
)

// checkSetup asserts every allocation was set up and torn down.
func checkSetup(t *testing.T, cfg Config, res Result) {
	t.Helper()
	if res.Setup == nil || res.Setup.Allocated != cfg.Allocations || len(res.Setup.Failures) != 0 {
		t.Fatalf("setup: %+v", res.Setup)
	}
	if res.Setup.AllocationsPerSecond <= 0 {
		t.Fatalf("allocations/s = %v", res.Setup.AllocationsPerSecond)
	}
	if len(res.TeardownFailures) != 0 || len(res.RefreshFailures) != 0 {
		t.Fatalf("teardown failures %v, refresh failures %v", res.TeardownFailures, res.RefreshFailures)
	}
}

// checkLatency asserts the percentiles are positive and ordered.
func checkLatency(t *testing.T, l *LatencyResult, samples uint64) {
	t.Helper()
	if l == nil {
		t.Fatal("no latency result")
	}
	if l.Samples != samples {
		t.Fatalf("%d latency samples, want %d", l.Samples, samples)
	}
	seq := []uint64{l.MinMicros, l.P50Micros, l.P90Micros, l.P99Micros, l.P999Micros, l.MaxMicros}
	for i := 1; i < len(seq); i++ {
		if seq[i] < seq[i-1] {
			t.Fatalf("percentiles not ordered: min/p50/p90/p99/p99.9/max = %v", seq)
		}
	}
	if l.P50Micros == 0 || l.MeanMicros <= 0 || len(l.Histogram) == 0 {
		t.Fatalf("latency not positive: %+v", *l)
	}
}

// checkNoLoss asserts a low-rate loopback run lost nothing.
func checkNoLoss(t *testing.T, p *PacketResult) {
	t.Helper()
	if p == nil || p.Sent == 0 || p.Received == 0 {
		t.Fatalf("no traffic: %+v", p)
	}
	if p.Lost != 0 || p.Late != 0 || p.LossRatio != 0 || p.Received > p.Sent {
		t.Fatalf("loss on loopback: %+v", *p)
	}
	if p.ReceivedPerSecond <= 0 || p.SentPerSecond < p.ReceivedPerSecond {
		t.Fatalf("rates: %+v", *p)
	}
}

func TestClosedLoop(t *testing.T) {
	s := startTestServer(t)
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"udp channel", func(c *Config) {}},
		{"udp send", func(c *Config) { c.SendPath = SendIndication }},
		{"static credentials", func(c *Config) {
			c.Username, c.Password = turnwire.RESTCredentials(testSecret, "static", time.Now().Add(time.Hour))
			c.Secret = ""
		}},
		{"tcp channel", func(c *Config) { c.Transport, c.Server = TransportTCP, s.TCPAddr().String() }},
		{"tcp send odd payload", func(c *Config) {
			c.Transport, c.Server, c.SendPath, c.PayloadSize = TransportTCP, s.TCPAddr().String(), SendIndication, 101
		}},
		{"tls channel with CA file", func(c *Config) {
			c.Transport, c.Server, c.TLSCAFile = TransportTLS, s.TLSAddr().String(), s.caFile
		}},
		{"tls send insecure", func(c *Config) {
			c.Transport, c.Server, c.SendPath, c.TLSInsecureSkipVerify = TransportTLS, s.TLSAddr().String(), SendIndication, true
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := s.baseConfig()
			tc.mod(&cfg)
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkSetup(t, cfg, res)
			checkNoLoss(t, res.Packets)
			// At the end of the window at most Allocations × InFlight probes
			// are still in flight.
			if inFlight := res.Packets.Sent - res.Packets.Received; inFlight > uint64(cfg.Allocations*cfg.InFlight) {
				t.Fatalf("%d probes unaccounted for", inFlight)
			}
			checkLatency(t, res.RTT, res.Packets.Received)
			if len(res.Timeline) == 0 {
				t.Fatal("no timeline")
			}
			if res.Seconds < cfg.Duration.Seconds()*0.9 {
				t.Fatalf("measured %v s of %v", res.Seconds, cfg.Duration)
			}
		})
	}
}

// TestServerUsageOfThisProcess points ServerPID at the test process, which
// hosts the pion server: its CPU and RSS must be read and related to the
// relayed packets.
func TestServerUsageOfThisProcess(t *testing.T) {
	s := startTestServer(t)
	cfg := s.baseConfig()
	cfg.ServerPID = os.Getpid()
	ownBefore := ownRSS(t)
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ownAfter := ownRSS(t)
	u := res.ServerUsage
	if u == nil || len(u.Errors) != 0 {
		t.Fatalf("usage %+v", u)
	}
	if u.CPUSeconds <= 0 || u.CPUPerPacketNanos <= 0 {
		t.Fatalf("cpu %+v", *u)
	}
	// The server is this process, which is also the generator: both
	// readings are the same clock read moments apart. The machine's work
	// includes it (within a 10 ms tick per CPU).
	if d := u.GeneratorCPUSeconds - u.CPUSeconds; d < -0.02 || d > 0.02 {
		t.Errorf("generator CPU %v s, server CPU %v s: the same process", u.GeneratorCPUSeconds, u.CPUSeconds)
	}
	if u.MachineCPUSeconds < u.CPUSeconds-0.02*float64(runtime.NumCPU()) || u.MachineCPUSeconds > res.Seconds*float64(runtime.NumCPU())+0.5 {
		t.Errorf("machine CPU %v s for a server of %v s in %v s", u.MachineCPUSeconds, u.CPUSeconds, res.Seconds)
	}
	if want := u.MachineCPUSeconds * 1e9 / float64(u.RelayedPackets); math.Abs(u.MachineCPUPerPacketNanos-want) > 1e-6*want {
		t.Errorf("machine CPU per packet %v ns, want %v", u.MachineCPUPerPacketNanos, want)
	}
	// Each round trip is relayed twice (to the peer and back).
	if u.RelayedPackets < res.Packets.Received*3/2 || u.RelayedPackets > res.Packets.Sent*5/2 {
		t.Fatalf("relayed %d for %d received", u.RelayedPackets, res.Packets.Received)
	}
	if u.RSSBeforeBytes == 0 || u.RSSAfterSetupBytes == 0 || u.RSSAfterTeardownBytes == 0 {
		t.Fatalf("rss %+v", *u)
	}
	// The readings are this process's resident memory, which the test
	// reads itself around Run: each within a factor of two of those.
	lo, hi := min(ownBefore, ownAfter)/2, max(ownBefore, ownAfter)*2
	for name, v := range map[string]uint64{"before": u.RSSBeforeBytes, "after setup": u.RSSAfterSetupBytes, "after teardown": u.RSSAfterTeardownBytes} {
		if v < lo || v > hi {
			t.Errorf("rss %s %d bytes, this process had %d–%d around the run", name, v, ownBefore, ownAfter)
		}
	}
	// Four allocations of pion's cost far less than 16 MiB each.
	if per := u.RSSPerAllocationBytes; per > 16<<20 || per < -16<<20 {
		t.Errorf("rss per allocation %v bytes", per)
	}
}

// TestRSSCheckpoints sets up allocations in stages against the in-process
// pion server and checks a RssAnon reading of this process at each stage,
// with the allocations held then, and the slope through them.
func TestRSSCheckpoints(t *testing.T) {
	s := startTestServer(t)
	cfg := s.baseConfig()
	cfg.Allocations = 8
	cfg.RSSCheckpoints = []int{2, 4, 8}
	cfg.ServerPID = os.Getpid()
	ownBefore := ownStatusBytes(t, "RssAnon:")
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ownAfter := ownStatusBytes(t, "RssAnon:")
	checkSetup(t, cfg, res)
	u := res.ServerUsage
	if u == nil || len(u.Errors) != 0 || len(u.RSSAnonPoints) != 3 {
		t.Fatalf("usage %+v", u)
	}
	lo, hi := min(ownBefore, ownAfter)/2, max(ownBefore, ownAfter)*2
	for i, p := range u.RSSAnonPoints {
		if p.Allocations != cfg.RSSCheckpoints[i] {
			t.Errorf("point %d at %d allocations, want %d", i, p.Allocations, cfg.RSSCheckpoints[i])
		}
		if p.RSSAnonBytes < lo || p.RSSAnonBytes > hi {
			t.Errorf("point %d: RssAnon %d bytes, this process had %d–%d around the run", i, p.RSSAnonBytes, ownBefore, ownAfter)
		}
	}
	// The fit itself is TestLeastSquaresSlope's; here, that it is wired.
	if want, ok := leastSquaresSlope(u.RSSAnonPoints); !ok || u.RSSAnonSlopeBytes != want {
		t.Errorf("slope %v, the points give %v", u.RSSAnonSlopeBytes, want)
	}
}

// ownRSS reads this process's VmRSS from /proc/self/status (proc(5)).
func ownRSS(t *testing.T) uint64 { return ownStatusBytes(t, "VmRSS:") }

// ownStatusBytes reads a "<field> <n> kB" line of /proc/self/status.
func ownStatusBytes(t *testing.T, field string) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb * 1024
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

func TestOpenLoopLowRate(t *testing.T) {
	s := startTestServer(t)
	for _, path := range []SendPath{SendChannel, SendIndication} {
		t.Run(string(path), func(t *testing.T) {
			cfg := s.baseConfig()
			cfg.Mode, cfg.Rate, cfg.SendPath = ModeOpen, 2000, path
			cfg.PacketTimeout = 300 * time.Millisecond
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkSetup(t, cfg, res)
			checkNoLoss(t, res.Packets)
			checkLatency(t, res.RTT, res.Packets.Received)
			want := cfg.Rate * cfg.Duration.Seconds()
			if got := float64(res.Packets.Sent); got < want*0.8 || got > want*1.1 {
				t.Fatalf("sent %v probes, want about %v", got, want)
			}
			if res.Packets.Sent != res.Packets.Received {
				t.Fatalf("open loop after drain: sent %d received %d", res.Packets.Sent, res.Packets.Received)
			}
		})
	}
}

func TestRamp(t *testing.T) {
	s := startTestServer(t)
	cfg := s.baseConfig()
	cfg.Mode = ModeRamp
	cfg.Warmup = 0
	cfg.RampStartRate, cfg.RampFactor, cfg.RampMaxRate = 500, 2, 2000
	cfg.RampStepDuration = 250 * time.Millisecond
	cfg.PacketTimeout = 200 * time.Millisecond
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkSetup(t, cfg, res)
	rp := res.Ramp
	if rp == nil || len(rp.Steps) != 3 {
		t.Fatalf("ramp %+v", rp)
	}
	for i, st := range rp.Steps {
		if st.TargetRate != 500*float64(int(1)<<i) || st.LossRatio != 0 || st.Received != st.Sent {
			t.Fatalf("step %d: %+v", i, st)
		}
		if want := st.TargetRate * cfg.RampStepDuration.Seconds(); float64(st.Sent) < want*0.8 || float64(st.Sent) > want*1.1 {
			t.Fatalf("step %d sent %d, want about %v", i, st.Sent, want)
		}
	}
	if rp.MaxRate != 2000 || rp.MaxReceivedRate <= 0 {
		t.Fatalf("max rate %v received %v", rp.MaxRate, rp.MaxReceivedRate)
	}
	checkLatency(t, res.RTT, res.Packets.Received)
}

func TestChurn(t *testing.T) {
	s := startTestServer(t)
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"udp unpaced", func(c *Config) {}},
		{"udp paced", func(c *Config) { c.ChurnRate = 200 }},
		{"tcp", func(c *Config) { c.Transport, c.Server = TransportTCP, s.TCPAddr().String() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := s.baseConfig()
			cfg.Mode = ModeChurn
			cfg.ServerPID = os.Getpid()
			tc.mod(&cfg)
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			c := res.Churn
			if c == nil || c.Cycles == 0 || c.Failed != 0 || len(c.Failures) != 0 || c.CyclesPerSecond <= 0 {
				t.Fatalf("churn %+v", c)
			}
			// Every connection (one per cycle, warmup's too) came from its
			// own loopback address.
			if c.Attempted != c.Cycles+c.Failed || !c.DistinctSources || c.SourceAddresses < c.Attempted {
				t.Fatalf("attempted %d, distinct sources %v, %d source addresses for %d cycles", c.Attempted, c.DistinctSources, c.SourceAddresses, c.Cycles)
			}
			checkLatency(t, c.Latency, c.Cycles)
			if cfg.ChurnRate > 0 {
				want := cfg.ChurnRate * cfg.Duration.Seconds()
				if got := float64(c.Cycles); got < want*0.7 || got > want*1.1 {
					t.Fatalf("%v cycles at %v/s, want about %v", got, cfg.ChurnRate, want)
				}
			}
			if u := res.ServerUsage; u == nil || u.CPUPerCycleNanos <= 0 {
				t.Fatalf("usage %+v", u)
			}
		})
	}
}

func TestChurnCountsFailuresByCode(t *testing.T) {
	s := startTestServer(t)
	cfg := s.baseConfig()
	cfg.Mode, cfg.Secret, cfg.Warmup = ModeChurn, "wrong", 0
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Churn
	// pion answers a wrong MESSAGE-INTEGRITY with 400 (RFC 8489 §9.2.4 says 401).
	if c.Cycles != 0 || c.Failed == 0 || c.Attempted != c.Failed || c.Failures["allocate:400"] != c.Failed || len(c.Failures) != 1 {
		t.Fatalf("churn %+v", *c)
	}
}

func TestRefreshesDuringLongRuns(t *testing.T) {
	s := startTestServer(t)
	for _, path := range []SendPath{SendChannel, SendIndication} {
		t.Run(string(path), func(t *testing.T) {
			cfg := s.baseConfig()
			cfg.SendPath = path
			cfg.Warmup = 0
			cfg.RefreshInterval = time.Second
			cfg.Duration = 1300 * time.Millisecond
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkSetup(t, cfg, res)
			checkNoLoss(t, res.Packets)
			// The first round (at 0.5 s plus a stagger under 0.5 s) sends two
			// requests per allocation.
			if want := uint64(2 * cfg.Allocations); res.Refreshes < want {
				t.Fatalf("%d successful refreshes, want %d", res.Refreshes, want)
			}
		})
	}
}

func TestMaxPacketsEndsTheRun(t *testing.T) {
	s := startTestServer(t)
	cfg := s.baseConfig()
	cfg.Warmup = 0
	cfg.Duration = 20 * time.Second
	cfg.MaxPackets = 200
	start := time.Now()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("run took %v despite MaxPackets", time.Since(start))
	}
	if res.Packets.Sent > cfg.MaxPackets || res.Packets.Received != res.Packets.Sent {
		t.Fatalf("packets %+v", *res.Packets)
	}
}

func TestCancelStopsAndDeletes(t *testing.T) {
	s := startTestServer(t)
	for _, mode := range []Mode{ModeClosed, ModeOpen, ModeChurn} {
		t.Run(string(mode), func(t *testing.T) {
			cfg := s.baseConfig()
			cfg.Mode = mode
			cfg.Duration = 30 * time.Second
			ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
			defer cancel()
			start := time.Now()
			res, err := Run(ctx, cfg)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("cancelled run took %v", d)
			}
			if len(res.TeardownFailures) != 0 {
				t.Fatalf("teardown failures %v", res.TeardownFailures)
			}
		})
	}
}

func TestRefusesNonLoopbackTargets(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"server", func(c *Config) { c.Server = "192.0.2.1:3478" }},
		{"server v6", func(c *Config) { c.Server = "[2001:db8::1]:3478" }},
		{"peer", func(c *Config) { c.PeerIP = netipMust("192.0.2.1") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Secret = "x"
			tc.mod(&cfg)
			start := time.Now()
			_, err := Run(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), "not loopback") {
				t.Fatalf("err = %v", err)
			}
			if time.Since(start) > time.Second {
				t.Fatal("refusal was not immediate")
			}
		})
	}
}

func TestSetupFailuresAreCounted(t *testing.T) {
	s := startTestServer(t)
	tests := []struct {
		name    string
		mod     func(*Config)
		wantKey string
	}{
		// pion answers a wrong MESSAGE-INTEGRITY with 400, not RFC 8489
		// §9.2.4's 401.
		{"wrong secret", func(c *Config) { c.Secret = "wrong" }, "allocate:400"},
		{"unverified certificate", func(c *Config) { c.Transport, c.Server = TransportTLS, s.TLSAddr().String() }, "dial:transport"},
		{"nothing listening", func(c *Config) { c.Server = "127.0.0.1:1"; c.RequestTimeout = 200 * time.Millisecond }, "allocate:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := s.baseConfig()
			cfg.Allocations = 2
			tc.mod(&cfg)
			res, err := Run(context.Background(), cfg)
			if err == nil {
				t.Fatal("run succeeded")
			}
			if res.Setup == nil || res.Setup.Allocated != 0 {
				t.Fatalf("setup %+v", res.Setup)
			}
			var n uint64
			for k, v := range res.Setup.Failures {
				if !strings.HasPrefix(k, tc.wantKey) {
					t.Fatalf("failure %q, want %q…", k, tc.wantKey)
				}
				n += v
			}
			if n != uint64(cfg.Allocations) {
				t.Fatalf("failures %v", res.Setup.Failures)
			}
		})
	}
}

func TestProgressAndJSON(t *testing.T) {
	s := startTestServer(t)
	cfg := s.baseConfig()
	var progress bytes.Buffer
	cfg.Progress = &progress
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := progress.String()
	if !strings.HasPrefix(out, "\r") || !strings.Contains(out, "received") || !strings.HasSuffix(out, "\n") {
		t.Fatalf("progress %q", out)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Packets.Received != res.Packets.Received || back.RTT.P99Micros != res.RTT.P99Micros || back.Mode != ModeClosed {
		t.Fatalf("JSON round trip lost data: %s", b)
	}
	for _, key := range []string{`"p50_us"`, `"p999_us"`, `"received_pps"`, `"allocations_per_second"`, `"timeline"`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Fatalf("JSON lacks %s", key)
		}
	}
	var summary strings.Builder
	if err := res.WriteSummary(&summary); err != nil || !strings.Contains(summary.String(), "p99.9") {
		t.Fatalf("summary %q, %v", summary.String(), err)
	}
}

// ourGoroutines returns the stacks of goroutines running (or about to run)
// this package's code, other than the tests themselves. The pion server's own goroutines are not ours: it
// ends per-allocation goroutines asynchronously and keeps those of
// allocations it still holds.
func ourGoroutines() []string {
	buf := make([]byte, 1<<20)
	var ours []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		// Test goroutines run under testing.tRunner; ours never do.
		if strings.Contains(g, "turnstile/loadtest.") && !strings.Contains(g, "testing.tRunner") {
			ours = append(ours, g)
		}
	}
	return ours
}

func TestRunLeavesNoGoroutines(t *testing.T) {
	// The detector must see our goroutines when there are some (once
	// started: before that a goroutine from WaitGroup.Go shows no frame of
	// ours, but a leaked one is blocked inside our code).
	pool, err := startEchoPool(netipMust("127.0.0.1"), 1, 64, false)
	if err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); len(ourGoroutines()) == 0; time.Sleep(time.Millisecond) {
		if time.Since(start) > 2*time.Second {
			t.Fatal("echo goroutine not detected")
		}
	}
	pool.close()

	s := startTestServer(t)
	cfg := s.baseConfig()
	cfg.Duration = 200 * time.Millisecond
	cfg.PacketTimeout = 200 * time.Millisecond
	for _, mode := range []Mode{ModeClosed, ModeOpen, ModeRamp, ModeChurn} {
		cfg.Mode = mode
		cfg.RampStartRate, cfg.RampMaxRate, cfg.RampStepDuration = 1000, 1000, 200*time.Millisecond
		if _, err := Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	cfg.Mode, cfg.Duration = ModeClosed, 10*time.Second
	if _, err := Run(ctx, cfg); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled run: %v", err)
	}
	// Callbacks of context.AfterFunc may still be finishing.
	deadline := time.Now().Add(5 * time.Second)
	for len(ourGoroutines()) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if left := ourGoroutines(); len(left) > 0 {
		t.Fatalf("%d goroutines left running:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}
