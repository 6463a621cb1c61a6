// Command turnstile-bench runs turnstile, coturn and pion/turn's server side
// by side on loopback, drives the same loads against each (package bench,
// issue 6) and prints a comparison table of ratios. It writes report.json
// (every measurement with its full load-generator result) and report.md
// (the tables, for docs/performance.md) into a new directory under -out, with each
// server's log beside them, and latency-vs-load.png: every server's RTT p50/p99
// and loss against offered load from the ramp load.
//
//	turnstile-bench -turnstile bin/turnstile -pion bin/pion-turn-server
//	turnstile-bench -quick            # smoke run, about a minute
//	turnstile-bench -servers turnstile,coturn -loads closed -runs 3
//
// `make bench` builds the servers and runs it (BENCH_QUICK=1 for -quick).
// It exits 1 when a measurement failed (the report is still written), 2 on
// bad flags.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/turnstile-relay/turnstile/bench"
	"github.com/turnstile-relay/turnstile/loadtest/chart"
)

func main() {
	code, err := run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "turnstile-bench:", err)
	}
	os.Exit(code)
}

// options are the parsed flags.
type options struct {
	bins    bench.Binaries
	quick   bool
	runs    int
	threads int
	// serverCPUs and generatorCPUs are disjoint CPU sets the servers and
	// this process are pinned to; both empty without pinning.
	serverCPUs, generatorCPUs []int
	servers                   []string
	loads                     []bench.Load
	out                       string
	realm                     string
	// netnsProfile is -loads xdp: issue 14's speed profile in network
	// namespaces instead of the loopback loads (docs/xdp.md); loadBin and
	// ip are the load generator and ip(8) it runs.
	netnsProfile bool
	loadBin, ip  string
}

func parseFlags(args []string) (options, error) {
	var o options
	var servers, loads, serverCPUs, generatorCPUs string
	defServer, defGenerator := defaultPinning(runtime.NumCPU())
	fs := flag.NewFlagSet("turnstile-bench", flag.ContinueOnError)
	fs.StringVar(&o.bins.Turnstile, "turnstile", "bin/turnstile", "turnstile daemon binary")
	fs.StringVar(&o.bins.Pion, "pion", "bin/pion-turn-server", "pion/turn benchmark server binary")
	fs.StringVar(&o.bins.Turnserver, "turnserver", "turnserver", "coturn's turnserver binary (looked up in PATH)")
	fs.BoolVar(&o.quick, "quick", false, "smoke run: one repetition, short windows")
	fs.IntVar(&o.runs, "runs", 0, "repetitions of every load on every server (0: 3, or 1 with -quick)")
	fs.IntVar(&o.threads, "threads", 0, "relay threads per server (GOMAXPROCS, coturn --relay-threads; 0: one per server CPU)")
	fs.StringVar(&serverCPUs, "server-cpus", defServer, "CPUs every server is pinned to, comma-separated (empty: no pinning)")
	fs.StringVar(&generatorCPUs, "generator-cpus", defGenerator, "CPUs the load generator is pinned to, disjoint from -server-cpus (empty: no pinning)")
	fs.StringVar(&servers, "servers", strings.Join(bench.AllServers, ","), "servers to run, comma-separated")
	fs.StringVar(&loads, "loads", strings.Join(loadNames(bench.Loads(bench.FullParams())), ","), "loads to run, comma-separated; or xdp alone: issue 14's speed profile in network namespaces (root)")
	fs.StringVar(&o.loadBin, "load", "bin/turnstile-load", "turnstile-load binary (-loads xdp runs it in the namespaces)")
	fs.StringVar(&o.ip, "ip", "ip", "ip(8) (-loads xdp)")
	fs.StringVar(&o.out, "out", "bin/bench", "directory for the results (a new subdirectory per run)")
	fs.StringVar(&o.realm, "realm", "bench.turnstile.test", "realm of every server")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() != 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.runs < 0 || o.runs > 100 {
		return o, fmt.Errorf("-runs %d: must be between 0 and 100", o.runs)
	}
	defaultRuns := o.runs == 0
	if o.runs == 0 {
		// Three repetitions keep a full run of seven loads on four
		// servers and the TCP load on two near 13.5 minutes
		// (docs/performance.md).
		o.runs = 3
		if o.quick {
			o.runs = 1
		}
	}
	var err error
	if o.serverCPUs, err = parseCPUs(serverCPUs); err != nil {
		return o, fmt.Errorf("-server-cpus: %w", err)
	}
	if o.generatorCPUs, err = parseCPUs(generatorCPUs); err != nil {
		return o, fmt.Errorf("-generator-cpus: %w", err)
	}
	if (len(o.serverCPUs) == 0) != (len(o.generatorCPUs) == 0) {
		return o, errors.New("-server-cpus and -generator-cpus: pin both or neither")
	}
	for _, c := range o.serverCPUs {
		if slices.Contains(o.generatorCPUs, c) {
			return o, fmt.Errorf("-server-cpus and -generator-cpus share CPU %d", c)
		}
	}
	if o.threads == 0 {
		// As many relay threads as the server has CPUs, the same for
		// every server: more would only take turns on them.
		o.threads = runtime.NumCPU()
		if len(o.serverCPUs) > 0 {
			o.threads = len(o.serverCPUs)
		}
	}
	if o.threads < 1 || o.threads > 1024 {
		return o, fmt.Errorf("-threads %d: must be between 1 and 1024", o.threads)
	}
	o.servers = strings.Split(servers, ",")
	for i, s := range o.servers {
		if !slices.Contains(bench.AllServers, s) {
			return o, fmt.Errorf("-servers: unknown server %q (want %s)", s, strings.Join(bench.AllServers, ", "))
		}
		if slices.Contains(o.servers[:i], s) {
			return o, fmt.Errorf("-servers: %q listed twice", s)
		}
	}
	if loads == netnsLoad {
		// The profile's datapaths are fixed: turnstile twice, coturn
		// and the direct baseline.
		o.netnsProfile = true
		o.servers = []string{bench.Turnstile, bench.Coturn}
		if defaultRuns && !o.quick {
			o.runs = netnsRuns
		}
		return o, nil
	}
	for _, name := range strings.Split(loads, ",") {
		if name == netnsLoad {
			return o, errors.New("-loads xdp runs alone: its namespaces replace the loopback loads")
		}
		i := slices.IndexFunc(bench.Loads(o.params()), func(l bench.Load) bool { return l.Name == name })
		if i < 0 {
			return o, fmt.Errorf("-loads: unknown load %q (want %s)", name, strings.Join(loadNames(bench.Loads(o.params())), ", "))
		}
		o.loads = append(o.loads, bench.Loads(o.params())[i])
	}
	return o, nil
}

// netnsRuns is the profile's default repetitions. A window's machine CPU
// scatters by about 10 % between repetitions (the load and the echo
// peers, not the relays), which is a microsecond or more per datagram
// against an XDP path's few: ten repetitions, about five minutes, bring
// the 95 % interval of the ratios to within a few hundredths.
const netnsRuns = 10

// defaultPinning splits n CPUs: the upper half for the servers, the lower
// half for the load generator (with 2 CPUs: server on CPU 1, generator on
// CPU 0), so neither takes the other's CPU time; no pinning on one CPU.
func defaultPinning(n int) (server, generator string) {
	if n < 2 {
		return "", ""
	}
	var s, g []string
	for c := range n {
		if c >= n/2 {
			s = append(s, strconv.Itoa(c))
		} else {
			g = append(g, strconv.Itoa(c))
		}
	}
	return strings.Join(s, ","), strings.Join(g, ",")
}

// parseCPUs reads a comma-separated list of CPU numbers ("" is none).
func parseCPUs(list string) ([]int, error) {
	if list == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(list, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 0 || c >= 1024 {
			return nil, fmt.Errorf("%q is not a CPU number", f)
		}
		if slices.Contains(out, c) {
			return nil, fmt.Errorf("CPU %d listed twice", c)
		}
		out = append(out, c)
	}
	return out, nil
}

// loadNames lists the names of loads in order.
func loadNames(loads []bench.Load) []string {
	var out []string
	for _, l := range loads {
		out = append(out, l.Name)
	}
	return out
}

// params sizes the loads.
func (o *options) params() bench.LoadParams {
	if o.quick {
		return bench.QuickParams()
	}
	return bench.FullParams()
}

func run() (int, error) {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		return 2, err
	}
	loads := o.loads
	if err := findBinaries(&o); err != nil {
		return 2, err
	}
	raiseFileLimit()
	if o.netnsProfile {
		// This process stays unpinned: the runner pins each child it
		// starts (servers, load, echo peers) to its own CPUs.
		return runNetnsProfile(o)
	}
	if len(o.generatorCPUs) > 0 {
		if err := bench.PinThisProcess(o.generatorCPUs); err != nil {
			return 2, err
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	dir := filepath.Join(o.out, started.UTC().Format("20060102-150405"))
	runner := &bench.Runner{
		Binaries: o.bins,
		Settings: bench.ServerSettings{Secret: randomSecret(), Realm: o.realm, Threads: o.threads},
		Plan:     bench.Plan{Runs: o.runs, Servers: o.servers, Loads: loads, Settle: 500 * time.Millisecond, ServerCPUs: o.serverCPUs},
		Dir:      filepath.Join(dir, "servers"),
		Log:      os.Stderr,
	}
	fmt.Fprintf(os.Stderr, "turnstile-bench: %d run(s) of %d load(s) on %s; results in %s\n",
		o.runs, len(loads), strings.Join(o.servers, ", "), dir)
	ms, runErr := runner.Run(ctx)

	report := &bench.Report{
		Started: started, Seconds: time.Since(started).Seconds(),
		Machine: bench.DescribeMachine(context.Background(), o.bins.Turnserver),
		Command: strings.Join(os.Args, " "), Revision: revision(), Quick: o.quick, Runs: o.runs, Threads: o.threads,
		ServerCPUs: o.serverCPUs, GeneratorCPUs: o.generatorCPUs,
		Servers: o.servers, Loads: bench.BuildReport(loads, o.servers, ms),
		Errors: bench.Failures(ms), Measurements: ms,
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 1, err
	}
	if series := bench.KneeSeries(ms, "ramp", o.servers); len(series) > 0 {
		title := fmt.Sprintf("make bench %s", started.UTC().Format("2006-01-02 15:04 MST"))
		if err := chart.SaveLoadPNG(filepath.Join(dir, bench.KneeChart), title, series); err != nil {
			fmt.Fprintln(os.Stderr, "turnstile-bench: drawing", bench.KneeChart+":", err)
		} else {
			report.Charts = append(report.Charts, bench.KneeChart)
		}
	}
	if err := writeReport(report, dir); err != nil {
		return 1, err
	}
	if err := report.WriteText(os.Stdout); err != nil {
		return 1, err
	}
	fmt.Printf("\nReport: %s, %s\n", filepath.Join(dir, "report.md"), filepath.Join(dir, "report.json"))
	switch {
	case runErr != nil:
		return 1, runErr
	case len(report.Errors) > 0:
		return 1, errors.New("some measurements failed (see above)")
	}
	return 0, nil
}

// findBinaries resolves every binary a selected server needs.
func findBinaries(o *options) error {
	need := map[string]*string{bench.Turnstile: &o.bins.Turnstile, bench.TurnstileNoOffload: &o.bins.Turnstile, bench.Pion: &o.bins.Pion, bench.Coturn: &o.bins.Turnserver}
	for _, s := range o.servers {
		p := need[s]
		path, err := exec.LookPath(*p)
		if err != nil {
			return fmt.Errorf("%s: %w (make bench builds the Go servers; coturn comes from Debian's coturn package, scripts/deps.sh)", s, err)
		}
		if *p, err = filepath.Abs(path); err != nil {
			return err
		}
	}
	if !slices.Contains(o.servers, bench.Coturn) {
		if path, err := exec.LookPath(o.bins.Turnserver); err == nil {
			o.bins.Turnserver = path
		} else {
			o.bins.Turnserver = ""
		}
	}
	return nil
}

// raiseFileLimit lifts the open-file soft limit to the hard limit: 5000
// allocations need 5000 client sockets here and as many relayed sockets in
// the server, which inherits the limit.
func raiseFileLimit() {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	}
}

// revision describes the source tree the servers were built from.
func revision() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// randomSecret is a fresh TURN REST secret for the run, shared by all
// servers: 32 hex characters (turnstile needs at least 16 bytes).
func randomSecret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func writeReport(r *bench.Report, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "report.md"))
	if err != nil {
		return err
	}
	if err := r.WriteMarkdown(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
