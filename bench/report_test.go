package bench

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/loadtest"
)

func testLoads() []Load {
	cpu := cpuPerPacket
	fails := churnFailures
	return []Load{
		{Name: "closed", Title: "1. closed", Metrics: []Metric{cpu}},
		{Name: "churn", Title: "4. churn", Metrics: []Metric{fails}},
	}
}

func testMeasurements() []Measurement {
	m := func(run int, load, server string, key string, v float64) Measurement {
		return Measurement{Run: run, Load: load, Server: server, Values: map[string]float64{key: v}}
	}
	return []Measurement{
		m(1, "closed", Turnstile, "cpu_per_packet_ns", 500),
		m(2, "closed", Turnstile, "cpu_per_packet_ns", 700),
		m(3, "closed", Turnstile, "cpu_per_packet_ns", 600),
		m(1, "closed", Coturn, "cpu_per_packet_ns", 1000),
		m(2, "closed", Coturn, "cpu_per_packet_ns", 1000),
		m(1, "closed", Pion, "cpu_per_packet_ns", 2400),
		m(1, "churn", Turnstile, "failed_cycles", 0),
		m(2, "churn", Turnstile, "failed_cycles", 3),
		m(1, "churn", Coturn, "failed_cycles", 10),
		{Run: 3, Load: "churn", Server: Pion, Values: map[string]float64{"failed_cycles": 0}, Error: "pion died"},
	}
}

func TestBuildReport(t *testing.T) {
	rows := BuildReport(testLoads(), AllServers, testMeasurements())
	if len(rows) != 2 {
		t.Fatalf("%d loads, want 2", len(rows))
	}
	cpu := rows[0].Rows[0]
	if got := cpu.Values[Turnstile].Value; got != 600 {
		t.Errorf("turnstile median = %v, want 600", got)
	}
	if got := cpu.Values[Turnstile].Samples; len(got) != 3 {
		t.Errorf("turnstile samples = %v, want 3", got)
	}
	if got := cpu.Ratios[Coturn]; got != 0.6 {
		t.Errorf("ratio to coturn = %v, want 0.6", got)
	}
	if got := cpu.Ratios[Pion]; got != 0.25 {
		t.Errorf("ratio to pion = %v, want 0.25", got)
	}
	// Per run: 500/1000 and 700/1000 (run 3 has no coturn value); pion
	// only ran once, 500/2400.
	if got, want := cpu.RatioRanges[Coturn], (Range{Min: 0.5, Max: 0.7, Runs: 2}); got != want {
		t.Errorf("ratio range to coturn = %+v, want %+v", got, want)
	}
	if got := cpu.RatioRanges[Pion]; got.Runs != 1 || got.Min != 500.0/2400 || got.Max != got.Min {
		t.Errorf("ratio range to pion = %+v, want one run of %v", got, 500.0/2400)
	}
	if cpu.TargetMet == nil || !*cpu.TargetMet {
		t.Errorf("CPU target (≤ 0.6×) not met at exactly 0.6: %v", cpu.TargetMet)
	}
	if cpu.Aggregate != "median" {
		t.Errorf("aggregate = %q", cpu.Aggregate)
	}

	fails := rows[1].Rows[0]
	if got := fails.Values[Turnstile].Value; got != 3 {
		t.Errorf("failed cycles = %v, want the worst run's 3", got)
	}
	if fails.Ratios != nil || fails.RatioRanges != nil {
		t.Errorf("a count has ratios: %v, %v", fails.Ratios, fails.RatioRanges)
	}
	if fails.TargetMet == nil || *fails.TargetMet {
		t.Errorf("zero-failures target met with 3 failures: %v", fails.TargetMet)
	}
	if _, ok := fails.Values[Pion]; ok {
		t.Error("pion has a value from a failed measurement")
	}
}

func TestReportRendering(t *testing.T) {
	ms := testMeasurements()
	r := &Report{
		Started: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Seconds: 42,
		Machine: Machine{CPUs: 2, CPUModel: "Test CPU", Kernel: "6.1", GoVersion: "go1.26", Coturn: "4.6.1"},
		Command: "turnstile-bench -runs 3", Revision: "abc123", Runs: 3, Threads: 2,
		Servers: AllServers, Loads: BuildReport(testLoads(), AllServers, ms), Errors: Failures(ms),
		Charts: []string{KneeChart},
	}
	var text, md strings.Builder
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"2 CPUs (nproc), Test CPU", "coturn 4.6.1", "median of 3 runs", "tree abc123",
		"GOMAXPROCS=2", "--relay-threads=2", "server CPU per relayed packet",
		"0.600", "0.250", "≤ 0.6× coturn met", "= 0 MISSED", "run 3, churn, pion: pion died",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	// Medians with their lowest and highest run, ratios with the range of
	// the per-run ratios; a single run's value and a worst-run count alone.
	if !strings.Contains(md.String(), "| server CPU per relayed packet | ns | lower | 600 (500–700) | - | 1000 (1000–1000) | 2400 | 0.600 (0.500–0.700) | 0.250 | ≤ 0.6× coturn met |") {
		t.Errorf("markdown row malformed:\n%s", md.String())
	}
	if !strings.Contains(md.String(), "| failed cycles | count | lower | 3 | - | 10 | - | - | - | = 0 MISSED |") {
		t.Errorf("markdown row malformed:\n%s", md.String())
	}
	if !strings.Contains(md.String(), "![latency-vs-load.png](latency-vs-load.png)") {
		t.Errorf("markdown does not show the chart:\n%s", md.String())
	}
	if !strings.Contains(md.String(), "- Command: `turnstile-bench -runs 3`") {
		t.Errorf("markdown lacks the command:\n%s", md.String())
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"}, {123456.7, "123457"}, {100, "100"}, {42.25, "42.2"}, {1.234, "1.23"},
		{0.05, "0.05"}, {0.00123, "0.0012"}, {-250, "-250"}, {4, "4"}, {17859, "17859"},
	}
	for _, tt := range tests {
		if got := formatValue(tt.v); got != tt.want {
			t.Errorf("formatValue(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

// TestLoadsLabelTheBestCase: the realistic load leads, the closed loop
// and the realistic flows send one datagram per call, and the GSO load is
// labelled a best case in its title, which heads its table in every
// report.
func TestLoadsLabelTheBestCase(t *testing.T) {
	for _, p := range []LoadParams{FullParams(), QuickParams()} {
		loads := Loads(p)
		var names []string
		for _, l := range loads {
			names = append(names, l.Name)
			if l.Config.GSO != (l.Name == "burst") {
				t.Errorf("%s: GSO %v", l.Name, l.Config.GSO)
			}
			if best := strings.Contains(l.Title, "best case"); best != (l.Name == "burst") {
				t.Errorf("%s: title %q (best case only and always for burst)", l.Name, l.Title)
			}
		}
		if want := []string{"realistic", "closed", "burst", "rss", "many", "churn", "ramp", "tcp"}; !slices.Equal(names, want) {
			t.Fatalf("loads %v, want %v", names, want)
		}
		real := loads[0]
		if real.Config.Mode != loadtest.ModeRealistic || real.Config.Allocations != p.RealisticAudio+p.RealisticVideo || real.Config.VideoFlows != p.RealisticVideo {
			t.Errorf("realistic config %+v", real.Config)
		}
		if !strings.Contains(real.Title, "15360 packets/s offered") || !strings.Contains(loads[1].Title, "one datagram per send call") {
			t.Errorf("titles %q, %q", real.Title, loads[1].Title)
		}
		for _, l := range loads[:3] {
			keys := map[string]bool{}
			for _, m := range l.Metrics {
				keys[m.Key] = true
			}
			for _, k := range []string{"cpu_per_packet_ns", "machine_cpu_per_packet_ns", "generator_cores", "server_cores", "loss_ratio", "rtt_p99_us"} {
				if !keys[k] {
					t.Errorf("%s lacks %s", l.Name, k)
				}
			}
		}
	}
	r := &Report{Servers: AllServers, Runs: 1, Loads: BuildReport(Loads(QuickParams())[2:3], AllServers, nil)}
	var md strings.Builder
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "### best case: ") {
		t.Errorf("the burst table is not headed as a best case:\n%s", md.String())
	}
}

// TestControlMetrics: the whole-machine CPU per packet and the generator's
// cores come from the load's server usage, over the measured seconds.
func TestControlMetrics(t *testing.T) {
	res := &loadtest.Result{Seconds: 4, ServerUsage: &loadtest.ServerUsage{
		CPUSeconds: 1, RelayedPackets: 1000, CPUPerPacketNanos: 1e6,
		MachineCPUSeconds: 3, MachineCPUPerPacketNanos: 3e6, GeneratorCPUSeconds: 2,
	}}
	o := &Observation{Result: res}
	for _, tt := range []struct {
		m    Metric
		want float64
	}{{machineCPUPerPacket, 3e6}, {generatorCores, 0.5}, {cpuPerPacket, 1e6}, {serverCores, 0.25}} {
		if v, ok := tt.m.Value(o); !ok || v != tt.want {
			t.Errorf("%s = %v, %v; want %v", tt.m.Key, v, ok, tt.want)
		}
	}
	res.ServerUsage.MachineCPUSeconds, res.ServerUsage.GeneratorCPUSeconds = 0, 0
	for _, m := range []Metric{machineCPUPerPacket, generatorCores} {
		if v, ok := m.Value(o); ok {
			t.Errorf("%s = %v without a reading", m.Key, v)
		}
	}
}

// TestPlacementLine: a pinned run's report says where the servers and the
// generator ran; an unpinned one says they shared the cores.
func TestPlacementLine(t *testing.T) {
	r := &Report{ServerCPUs: []int{1}, GeneratorCPUs: []int{0}}
	if got := r.placement(); !strings.Contains(got, "pinned to CPU 1, the load generator (with its echo peers) to CPU 0") {
		t.Errorf("pinned placement %q", got)
	}
	if got := (&Report{}).placement(); !strings.Contains(got, "same cores") {
		t.Errorf("unpinned placement %q", got)
	}
}
