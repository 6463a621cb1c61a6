package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/loadtest"
	"github.com/turnstile-relay/turnstile/loadtest/chart"
)

// buildPion builds the repository's pion/turn server into dir.
func buildPion(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "pion-turn-server")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goTool, "build", "-o", bin, "github.com/turnstile-relay/turnstile/loadtest/pionserver/cmd/pion-turn-server")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build pion-turn-server: %v\n%s", err, out)
	}
	return bin
}

// tinyLoads are a closed loop, a memory load of 40 allocations and a churn
// of a fraction of a second each.
func tinyLoads() []Load {
	closed := base(LoadParams{})
	closed.Allocations, closed.InFlight = 4, 2
	closed.Duration = 300 * time.Millisecond
	rss := base(LoadParams{})
	rss.Allocations, rss.InFlight = 40, 1
	rss.RSSCheckpoints = rssCheckpoints(40)
	rss.Duration = 100 * time.Millisecond
	ramp := base(LoadParams{})
	ramp.Mode, ramp.Allocations = loadtest.ModeRamp, 4
	ramp.RampStartRate, ramp.RampFactor, ramp.RampMaxRate = 400, 2, 800
	ramp.RampStepDuration, ramp.PacketTimeout = 200*time.Millisecond, 200*time.Millisecond
	ramp.RampLossLimit = rampLossLimit
	churn := base(LoadParams{})
	churn.Mode = loadtest.ModeChurn
	churn.Allocations = 2
	churn.Duration = 300 * time.Millisecond
	return []Load{
		{Name: "closed", Title: "closed", Config: closed, Metrics: []Metric{cpuPerPacket, throughput, rcvbufDrops}},
		{Name: "rss", Title: "rss", Config: rss, Metrics: []Metric{rssPerAllocation}},
		{Name: "ramp", Title: "ramp", Config: ramp, Metrics: []Metric{rampHighestRate}},
		{Name: "churn", Title: "churn", Config: churn, Metrics: []Metric{churnRate, attemptedCycles, churnFailures}},
	}
}

// TestRunnerAgainstPionAndCoturn runs tiny loads against real pion and
// coturn servers (two threads each: pion on two sockets) and checks the
// values and that no server outlives Run.
func TestRunnerAgainstPionAndCoturn(t *testing.T) {
	turnserver, err := exec.LookPath("turnserver")
	if err != nil {
		t.Fatalf("coturn's turnserver is needed (bash scripts/deps.sh installs it): %v", err)
	}
	dir := t.TempDir()
	r := &Runner{
		Binaries: Binaries{Pion: buildPion(t, dir), Turnserver: turnserver},
		Settings: ServerSettings{Secret: "0123456789abcdef0123", Realm: "bench.test", Threads: 2},
		Plan:     Plan{Runs: 1, Servers: []string{Pion, Coturn}, Loads: tinyLoads()},
		Dir:      filepath.Join(dir, "out"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ms, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 8 {
		t.Fatalf("%d measurements, want 8", len(ms))
	}
	for _, m := range ms {
		if m.Error != "" {
			t.Errorf("%s on %s: %s", m.Load, m.Server, m.Error)
		}
		want := []string{"cpu_per_packet_ns", "round_trips_per_s", "udp_rcvbuf_drops"}
		switch m.Load {
		case "churn":
			want = []string{"cycles_per_s", "attempted_cycles", "failed_cycles"}
		case "rss":
			want = []string{"rss_per_allocation_bytes"}
		case "ramp":
			want = []string{"ramp_max_pps"}
		}
		for _, key := range want {
			if _, ok := m.Values[key]; !ok {
				t.Errorf("%s on %s: no %s in %v", m.Load, m.Server, key, m.Values)
			}
		}
		if m.Result == nil || m.Result.ServerUsage == nil || m.Result.ServerUsage.PID == 0 {
			t.Errorf("%s on %s: no server usage", m.Load, m.Server)
			continue
		}
		checkValues(t, m)
	}
	// The ramp's chart: a point per step for both servers, drawn.
	series := KneeSeries(ms, "ramp", r.Plan.Servers)
	if len(series) != 2 || len(series[0].Points) != 2 || len(series[1].Points) != 2 {
		t.Errorf("knee series %+v", series)
	}
	if err := chart.SaveLoadPNG(filepath.Join(dir, KneeChart), "test", series); err != nil {
		t.Error(err)
	}
	for _, bin := range []string{r.Binaries.Pion, turnserver} {
		if pids := running(bin); len(pids) > 0 {
			t.Errorf("%s still running after Run: pids %v", bin, pids)
		}
	}
}

// checkValues compares a tiny load's values with what its raw counts and
// loopback allow: the rate from the counts over the measured time, CPU per
// packet between 100 ns and 10 ms, and no failed churn cycle: with every
// cycle from its own source address no server has a reason to refuse one.
func checkValues(t *testing.T, m Measurement) {
	t.Helper()
	r, v := m.Result, m.Values
	inRange := func(key string, lo, hi float64) {
		if x := v[key]; !(x >= lo && x <= hi) {
			t.Errorf("%s on %s: %s = %v, want %v–%v", m.Load, m.Server, key, x, lo, hi)
		}
	}
	if r.Seconds <= 0 {
		t.Errorf("%s on %s: measured %v s", m.Load, m.Server, r.Seconds)
		return
	}
	if m.Load == "ramp" {
		// Two steps of 400 and 800 probes/s on loopback lose nothing.
		st := r.Ramp.Steps
		if len(st) != 2 || st[1].SentPerSecond < 400 || st[0].LossRatio > 0 || st[1].LossRatio > 0 {
			t.Errorf("ramp on %s: steps %+v", m.Server, st)
			return
		}
		sent := max(st[0].SentPerSecond, st[1].SentPerSecond)
		inRange("ramp_max_pps", sent, sent)
		return
	}
	if m.Load == "rss" {
		// The slope through a RssAnon reading at each of 10, 20, 30 and 40
		// allocations.
		u := r.ServerUsage
		if len(u.RSSAnonPoints) != 4 || u.RSSAnonPoints[3].Allocations != 40 {
			t.Errorf("rss on %s: points %v", m.Server, u.RSSAnonPoints)
		}
		inRange("rss_per_allocation_bytes", u.RSSAnonSlopeBytes, u.RSSAnonSlopeBytes)
		return
	}
	if m.Load == "churn" {
		rate := float64(r.Churn.Cycles) / r.Seconds
		inRange("cycles_per_s", max(rate*0.9, 1), rate*1.1)
		inRange("failed_cycles", 0, 0)
		attempted := float64(r.Churn.Cycles + r.Churn.Failed)
		inRange("attempted_cycles", attempted, attempted)
		if !r.Churn.DistinctSources {
			t.Errorf("%s on %s: cycles did not come from distinct source addresses", m.Load, m.Server)
		}
		return
	}
	rate := float64(r.Packets.Received) / r.Seconds
	inRange("round_trips_per_s", max(rate*0.9, 100), rate*1.1)
	inRange("cpu_per_packet_ns", 100, 10e6)
}

// running lists the children of this test process executing bin.
func running(bin string) []string {
	entries, _ := os.ReadDir("/proc")
	me := strconv.Itoa(os.Getpid())
	var pids []string
	for _, e := range entries {
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || exe != bin {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": the command may hold spaces and
		// parentheses, so split after the last ')'.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		if f := strings.Fields(string(stat[i+1:])); len(f) >= 2 && f[1] == me {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

func TestRSSCheckpoints(t *testing.T) {
	tests := []struct {
		n    int
		want []int
	}{
		{2000, []int{500, 1000, 1500, 2000}},
		{40, []int{10, 20, 30, 40}},
		{3, []int{1, 2, 3}},
		{1, []int{1}},
	}
	for _, tc := range tests {
		if got := rssCheckpoints(tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("rssCheckpoints(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
}

func TestRunnerValidates(t *testing.T) {
	good := Runner{
		Settings: ServerSettings{Secret: "0123456789abcdef0123", Threads: 1},
		Plan:     Plan{Runs: 1, Servers: []string{Pion}, Loads: tinyLoads()},
		Dir:      t.TempDir(),
	}
	tests := []struct {
		name   string
		change func(r *Runner)
	}{
		{"no runs", func(r *Runner) { r.Plan.Runs = 0 }},
		{"no servers", func(r *Runner) { r.Plan.Servers = nil }},
		{"no loads", func(r *Runner) { r.Plan.Loads = nil }},
		{"short secret", func(r *Runner) { r.Settings.Secret = "short" }},
		{"no threads", func(r *Runner) { r.Settings.Threads = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good
			tt.change(&r)
			if _, err := r.Run(context.Background()); err == nil {
				t.Error("Run accepted an invalid runner")
			}
		})
	}
}

// TestRunningSeesChildren checks the leak check itself: a live child is
// listed, a stopped one is not.
func TestRunningSeesChildren(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	if sleep, err = filepath.EvalSymlinks(sleep); err != nil {
		t.Fatal(err)
	}
	p, err := startProcess("sleeper", exec.Command(sleep, "30"), filepath.Join(t.TempDir(), "log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if pids := running(sleep); len(pids) != 1 || pids[0] != strconv.Itoa(p.pid()) {
		t.Errorf("running(%s) = %v with child %d alive", sleep, pids, p.pid())
	}
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	if pids := running(sleep); len(pids) != 0 {
		t.Errorf("running(%s) = %v after stop", sleep, pids)
	}
}
