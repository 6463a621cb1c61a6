package bench

import (
	"context"
	"net/netip"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/loadtest"
)

// TestTCPLoadMetrics reads the TCP load's metrics from a fake result:
// throughput per connection is the median over connections, the total is
// the relayed bytes over the measured time, CPU per MB is the server's.
func TestTCPLoadMetrics(t *testing.T) {
	res := &loadtest.Result{
		Seconds: 2,
		TCP:     &loadtest.TCPResult{RelayedBytes: 26e6, PerConnectionMBps: []float64{2, 1, 6, 4}, MedianMBps: 3},
		ServerUsage: &loadtest.ServerUsage{
			CPUSeconds: 0.5, RelayedBytes: 26e6, CPUPerMBMicros: 19230.8, MachineCPUSeconds: 1, MachineCPUPerMBMicros: 38461.5,
		},
	}
	obs := &Observation{Result: res}
	for _, tt := range []struct {
		metric Metric
		want   float64
	}{
		{tcpPerConnection, 3},
		{tcpTotal, 13},
		{tcpCPUPerMB, 19230.8},
		{tcpMachineCPUPerMB, 38461.5},
	} {
		if got, ok := tt.metric.Value(obs); !ok || got != tt.want {
			t.Errorf("%s = %v, %v; want %v", tt.metric.Key, got, ok, tt.want)
		}
	}
	// Without relayed bytes there is no CPU per MB and no throughput.
	empty := &Observation{Result: &loadtest.Result{Seconds: 2, TCP: &loadtest.TCPResult{}, ServerUsage: &loadtest.ServerUsage{CPUSeconds: 1}}}
	for _, m := range []Metric{tcpPerConnection, tcpCPUPerMB, tcpMachineCPUPerMB} {
		if v, ok := m.Value(empty); ok {
			t.Errorf("%s read %v from a run that relayed nothing", m.Key, v)
		}
	}
}

// TestTCPCommands: the TCP load starts turnstile with a TCP listener on the
// UDP port and RFC 6062 relaying on, coturn with its TCP listener and TCP
// relays, and refuses pion, which cannot relay TCP.
func TestTCPCommands(t *testing.T) {
	ts := turnstileCommand("/bin/turnstile", testSettings, testListen, true)
	for _, want := range []string{"TURNSTILE_TCP_LISTEN=127.0.0.1:34567", "TURNSTILE_TCP_RELAY=true", "TURNSTILE_UDP_LISTEN=127.0.0.1:34567"} {
		if !slices.Contains(ts.Env, want) {
			t.Errorf("turnstile's environment lacks %q", want)
		}
	}
	udpOnly := turnstileCommand("/bin/turnstile", testSettings, testListen, false)
	for _, kv := range udpOnly.Env {
		if strings.HasPrefix(kv, "TURNSTILE_TCP_") {
			t.Errorf("the UDP loads' turnstile has %q", kv)
		}
	}
	co := coturnCommand("/usr/bin/turnserver", testSettings, testListen, "/tmp/x", true)
	for _, flag := range []string{"--no-tcp", "--no-tcp-relay"} {
		if slices.Contains(co.Args, flag) {
			t.Errorf("coturn for TCP relaying runs with %s", flag)
		}
	}
	for _, flag := range []string{"--no-tls", "--no-dtls"} {
		if !slices.Contains(co.Args, flag) {
			t.Errorf("coturn for TCP relaying lacks %s", flag)
		}
	}
	coUDP := coturnCommand("/usr/bin/turnserver", testSettings, testListen, "/tmp/x", false)
	for _, flag := range []string{"--no-tcp", "--no-tcp-relay"} {
		if !slices.Contains(coUDP.Args, flag) {
			t.Errorf("coturn for the UDP loads lacks %s", flag)
		}
	}
	if _, err := serverCommand(Pion, Binaries{Pion: "/bin/pion"}, testSettings, testListen, t.TempDir(), true); err == nil {
		t.Error("pion was given the TCP relaying load")
	}
}

// TestNotApplicableRendering: a load's n/a servers read "n/a" in every row
// and the reason follows the table, in text and Markdown.
func TestNotApplicableRendering(t *testing.T) {
	load := tcpLoad(QuickParams())
	ms := []Measurement{
		{Run: 1, Load: "tcp", Server: Turnstile, Values: map[string]float64{"tcp_mbps_per_connection": 200}},
		{Run: 1, Load: "tcp", Server: Coturn, Values: map[string]float64{"tcp_mbps_per_connection": 50}},
	}
	r := &Report{Runs: 1, Threads: 1, Servers: AllServers, Loads: BuildReport([]Load{load}, AllServers, ms)}
	var text, md strings.Builder
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"text": text.String(), "markdown": md.String()} {
		if !strings.Contains(out, "n/a for pion: "+pionNoTCPRelay) || !strings.Contains(out, "n/a for turnstile-nooffload:") {
			t.Errorf("%s lacks the n/a reasons:\n%s", name, out)
		}
	}
	if !strings.Contains(md.String(), "| 200 | n/a | 50 | n/a | 4.000 |") {
		t.Errorf("markdown row:\n%s", md.String())
	}
}

// buildTurnstile builds cmd/turnstile into dir.
func buildTurnstile(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "turnstile")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "github.com/turnstile-relay/turnstile/cmd/turnstile")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build turnstile: %v\n%s", err, out)
	}
	return bin
}

// TestRunnerTCPLoad runs a short TCP relaying load against real turnstile
// and coturn on loopback: both relay bytes both ways on every connection,
// the values agree with the raw counts, and pion and turnstile-nooffload
// are skipped, not measured.
func TestRunnerTCPLoad(t *testing.T) {
	turnserver, err := exec.LookPath("turnserver")
	if err != nil {
		t.Fatalf("coturn's turnserver is needed (bash scripts/deps.sh installs it): %v", err)
	}
	dir := t.TempDir()
	p := QuickParams()
	p.Warmup, p.TCPDuration, p.TCPConnections = 200*time.Millisecond, 400*time.Millisecond, 2
	r := &Runner{
		Binaries: Binaries{Turnstile: buildTurnstile(t, dir), Turnserver: turnserver, Pion: "/nonexistent/pion"},
		Settings: ServerSettings{Secret: "0123456789abcdef0123", Realm: "bench.test", Threads: 1},
		Plan:     Plan{Runs: 1, Servers: AllServers, Loads: []Load{tcpLoad(p)}},
		Dir:      filepath.Join(dir, "out"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ms, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var servers []string
	for _, m := range ms {
		servers = append(servers, m.Server)
		if m.Error != "" {
			t.Errorf("%s: %s", m.Server, m.Error)
			continue
		}
		tcp := m.Result.TCP
		if tcp == nil || tcp.Connections != 2 || len(tcp.PerConnectionMBps) != 2 {
			t.Errorf("%s: TCP result %+v", m.Server, tcp)
			continue
		}
		if tcp.ToPeerBytes == 0 || tcp.FromPeerBytes == 0 || slices.Min(tcp.PerConnectionMBps) <= 0 {
			t.Errorf("%s: not every connection relayed both ways: %+v", m.Server, tcp)
		}
		u := m.Result.ServerUsage
		if u == nil || u.RelayedBytes != tcp.RelayedBytes || u.CPUSeconds <= 0 {
			t.Errorf("%s: server usage %+v", m.Server, u)
			continue
		}
		if got, want := m.Values["tcp_cpu_per_mb_us"], u.CPUSeconds*1e6/(float64(tcp.RelayedBytes)/1e6); !near(got, want) {
			t.Errorf("%s: CPU per MB %v, want %v from the raw counts", m.Server, got, want)
		}
		if m.Values["tcp_mbps_per_connection"] != tcp.MedianMBps || m.Values["setup_failures"] != 0 {
			t.Errorf("%s: values %v", m.Server, m.Values)
		}
	}
	slices.Sort(servers)
	if !slices.Equal(servers, []string{Coturn, Turnstile}) {
		t.Errorf("measured %v, want coturn and turnstile only", servers)
	}
	if pids := running(r.Binaries.Turnstile); len(pids) > 0 {
		t.Errorf("turnstile still running after Run: pids %v", pids)
	}
}

// tcpLoadGoroutines returns the stacks of goroutines in the TCP load's
// streams or in pion's TURN client, other than tests.
func tcpLoadGoroutines() []string {
	buf := make([]byte, 1<<20)
	var out []string
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if (strings.Contains(g, "loadtest.(*tcpStream)") || strings.Contains(g, "pion/turn/v3")) && !strings.Contains(g, "testing.tRunner") {
			out = append(out, g)
		}
	}
	return out
}

// near says whether a and b agree to a millionth.
func near(a, b float64) bool { return a == b || (b != 0 && abs(a/b-1) < 1e-6) }

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestTCPLoadLeavesNoGoroutines runs the TCP load against a turnstile that
// stays up afterwards, so that only the load's own closing, not the
// server's exit, can end its streams: every goroutine of the streams and of
// pion's client must be gone.
func TestTCPLoadLeavesNoGoroutines(t *testing.T) {
	dir := t.TempDir()
	settings := ServerSettings{Secret: "0123456789abcdef0123", Realm: "bench.test", Threads: 1}
	port, err := freeUDPPort(turnstilePortMin, coturnPortMax)
	if err != nil {
		t.Fatal(err)
	}
	listen := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
	p, err := startProcess(Turnstile, turnstileCommand(buildTurnstile(t, dir), settings, listen, true), filepath.Join(dir, "server.log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.waitReady(ctx, serverStartTimeout, func(ctx context.Context) error { return stunPing(ctx, listen) }); err != nil {
		t.Fatal(err)
	}
	lp := QuickParams()
	lp.Warmup, lp.TCPDuration, lp.TCPConnections = 100*time.Millisecond, 200*time.Millisecond, 2
	cfg := tcpLoad(lp).Config
	cfg.Server, cfg.Secret = listen.String(), settings.Secret
	res, err := loadtest.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.TCP == nil || res.TCP.RelayedBytes == 0 {
		t.Fatalf("nothing relayed: %+v", res.TCP)
	}
	// A closed connection ends its goroutines within moments; the bound is
	// for a loaded machine.
	deadline := time.Now().Add(10 * time.Second)
	for len(tcpLoadGoroutines()) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if left := tcpLoadGoroutines(); len(left) > 0 {
		t.Errorf("%d goroutines of the TCP load outlived it, e.g.\n%s", len(left), left[0])
	}
	if ended, err := p.exited(); ended {
		t.Fatalf("turnstile ended during the test: %v", err)
	}
}
