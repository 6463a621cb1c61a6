package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/turnstile-relay/turnstile/internal/netnslab"
	"github.com/turnstile-relay/turnstile/loadtest"
)

// NetnsRunner runs issue 14's speed profile (docs/xdp.md): four network
// namespaces, the realistic load from the client's, the echo peers in the
// peer's, each relay in the relay's and none for the direct baseline, every
// repetition through every datapath in ProfileOrder's rotation. It needs
// root (namespaces, XDP).
type NetnsRunner struct {
	// IP is ip(8); Turnstile, Turnserver and Load are cmd/turnstile,
	// coturn's turnserver and cmd/turnstile-load.
	IP, Turnstile, Turnserver, Load string
	Settings                        ServerSettings
	Params                          LoadParams
	Runs                            int
	// ServerCPUs are the CPUs each relay is pinned to, GeneratorCPUs those
	// of the load and the echo peers (the main bench's split); empty
	// pins nothing. Unpinned, the load's and the peers' runtimes spread
	// their wakeups over every CPU, and the baseline window alone
	// scattered by 30 % between repetitions.
	ServerCPUs, GeneratorCPUs []int
	// Dir receives one directory per window with the processes' logs.
	Dir string
	// Log receives a line per window; nil discards them.
	Log io.Writer

	// spawn runs functions that start children on one thread locked for
	// the whole Run: PR_SET_PDEATHSIG fires when the forking thread ends,
	// and netnslab.InNamespace retires the threads it uses, so a child
	// forked from any other thread could be killed when a namespace call
	// happened to retire its parent thread.
	spawn chan func()
	// seedBase + repetition + 1 is a repetition's flow-schedule seed.
	seedBase uint64
}

// startChild runs start on the spawning thread.
func (r *NetnsRunner) startChild(start func() error) error {
	errc := make(chan error, 1)
	r.spawn <- func() { errc <- start() }
	return <-errc
}

// runSpawner locks a goroutine to its thread until done is closed and runs
// r.spawn's functions there.
func (r *NetnsRunner) runSpawner(done <-chan struct{}) {
	r.spawn = make(chan func())
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread() // the children are gone by then
		for {
			select {
			case f := <-r.spawn:
				f()
			case <-done:
				return
			}
		}
	}()
}

// The relay's listener and metrics in the relay namespace.
const (
	netnsListenPort  = 3478
	netnsMetricsPort = 9464
)

// kernelSeries is turnstile's count of datagrams the XDP program relayed,
// every direction and transport (docs/xdp.md).
const kernelSeries = `turnstile_relayed_packets_total{datapath="xdp"}`

// Run builds the namespaces, measures every window and removes the
// namespaces and every process it started before returning, also when ctx
// ends (a signal) or a step fails.
func (r *NetnsRunner) Run(ctx context.Context) (ProfileResult, []PathWindow, error) {
	if os.Geteuid() != 0 {
		return ProfileResult{}, nil, errors.New("the netns profile needs root: it creates network namespaces and attaches XDP programs")
	}
	if len(r.Settings.Secret) < 16 || r.Settings.Threads < 1 || r.Runs < 1 {
		return ProfileResult{}, nil, errors.New("bench: the netns profile needs a secret of 16 bytes or more, Threads ≥ 1 and Runs ≥ 1")
	}
	log := r.Log
	if log == nil {
		log = io.Discard
	}
	done := make(chan struct{})
	defer close(done) // after every child is stopped: defers run last-in first-out
	r.runSpawner(done)
	// One seed per repetition, the same for every datapath in it: each
	// carries the same flow schedule (phases, jitter, frame sizes), so
	// the schedule's share of a window's CPU cancels in the differences
	// to the baseline, and the repetitions sample different schedules.
	r.seedBase = rand.Uint64() >> 1 // room to add the repetitions
	topo, err := netnslab.Build(r.IP, "tsbench")
	if err != nil {
		return ProfileResult{}, nil, err
	}
	defer topo.Close()
	pass, err := topo.PrepareDatapath()
	if err != nil {
		return ProfileResult{}, nil, err
	}
	defer pass.Close()
	var windows []PathWindow
	for run := range r.Runs {
		for _, path := range ProfileOrder(run) {
			if err := ctx.Err(); err != nil {
				return ProfileResult{}, windows, err
			}
			w, err := r.window(ctx, topo, run, path)
			if err != nil {
				return ProfileResult{}, windows, fmt.Errorf("run %d, %s: %w", run, path, err)
			}
			windows = append(windows, w)
			fmt.Fprintf(log, "run %d %-20s cpu=%v sent=%d delivered=%d kernel=%d\n",
				run, path, w.MachineCPU, w.Sent, w.Delivered, w.KernelRelayed)
		}
	}
	res, err := BuildProfile(windows)
	return res, windows, err
}

// inNamespace is a command run in namespace ns by ip(8) (which execs it, so
// the pid is the program's own).
func (r *NetnsRunner) inNamespace(ns string, cmd *exec.Cmd) *exec.Cmd {
	c := exec.Command(r.IP, append([]string{"netns", "exec", ns, cmd.Path}, cmd.Args[1:]...)...)
	c.Env = cmd.Env
	return c
}

// window measures one datapath in one repetition.
func (r *NetnsRunner) window(ctx context.Context, topo *netnslab.Topology, run int, path string) (PathWindow, error) {
	dir := filepath.Join(r.Dir, fmt.Sprintf("run%d-%s", run, path))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return PathWindow{}, err
	}
	listen := netip.AddrPortFrom(netip.MustParseAddr(netnslab.RelayIPv4), netnsListenPort)
	metrics := netip.AddrPortFrom(listen.Addr(), netnsMetricsPort)
	var server *process
	if path != PathDirect {
		var cmd *exec.Cmd
		switch path {
		case PathCoturn:
			cmd = coturnCommand(r.Turnserver, r.Settings, listen, dir, false)
		default:
			cmd = turnstileCommand(r.Turnstile, r.Settings, listen, false)
			xdp := "off"
			if path == PathXDP {
				xdp = "native"
			}
			// The peers live in their own namespace, not on loopback.
			// All 240 clients share the client namespace's one address,
			// where the real world has 240 sources: the per-source budget
			// of unauthenticated answers would drop their 401s
			// (docs/configuration.md), so it is off.
			cmd.Env = append(cmd.Env, "TURNSTILE_XDP="+xdp, "TURNSTILE_UNAUTH_RATE=0",
				"TURNSTILE_PEER_ALLOW="+netnslab.PeerIPv4+"/32",
				"TURNSTILE_METRICS_LISTEN="+metrics.String())
		}
		var p *process
		err := r.startChild(func() (err error) {
			p, err = startProcess(path, r.inNamespace(topo.Relay, cmd), filepath.Join(dir, "server.log"), r.ServerCPUs)
			return err
		})
		if err != nil {
			return PathWindow{}, err
		}
		server = p
		defer server.stop()
		ping := func(ctx context.Context) error {
			return netnslab.InNamespace(topo.Client, func() error { return stunPing(ctx, listen) })
		}
		if err := p.waitReady(ctx, serverStartTimeout, ping); err != nil {
			return PathWindow{}, err
		}
	}
	echo, peers, err := r.startEcho(topo, dir)
	if err != nil {
		return PathWindow{}, err
	}
	defer echo.stop()

	seed := r.seedBase + uint64(run) + 1
	res, err := r.runLoad(ctx, topo, dir, path, seed, listen, metrics, peers, server, echo)
	if err != nil {
		return PathWindow{}, err
	}
	w := PathWindow{Run: run, Path: path, Seed: seed}
	// Every datapath must carry the same flows, or the windows differ in
	// more than the relay.
	if res.Setup != nil && len(res.Setup.Failures) > 0 {
		return w, fmt.Errorf("%d of %d allocations set up, failures %v", res.Setup.Allocated, res.Allocations, res.Setup.Failures)
	}
	if res.Packets == nil || res.ServerUsage == nil || res.ServerUsage.MachineCPUSeconds <= 0 {
		return w, errors.New("the load reported no packets or no machine CPU")
	}
	// A reading that failed or began late leaves the CPU (or the kernel's
	// count) covering another span than the datagrams.
	if errs := res.ServerUsage.Errors; len(errs) > 0 {
		return w, fmt.Errorf("the load's readings of the window failed: %s", strings.Join(errs, "; "))
	}
	// Each probe crosses twice (to the peer and back) and each crossing
	// is one datagram the relay forwards: both directions count.
	w.MachineCPU = time.Duration(res.ServerUsage.MachineCPUSeconds * float64(time.Second))
	w.Sent, w.Delivered = 2*res.Packets.Sent, 2*res.Packets.Received
	if path == PathXDP {
		d := res.ServerUsage.CounterDelta
		if d == nil {
			return w, errors.New("the load reported no datapath=\"xdp\" count for the window")
		}
		w.KernelRelayed = uint64(*d)
	}
	echoed, err := echo.stopAndCount()
	if err != nil {
		return w, err
	}
	// The peers must have echoed at least what came back, or the counts
	// come from somewhere else.
	if echoed < res.Packets.Received {
		return w, fmt.Errorf("the peers echoed %d datagrams but the clients received %d", echoed, res.Packets.Received)
	}
	return w, nil
}

// runLoad runs the realistic load in the client namespace and decodes its
// JSON result. The server's pid (the echo process's for the direct path)
// makes the load read the machine's CPU over its measured window; for the
// XDP path it also reads turnstile's datapath="xdp" count from metrics, at
// the same moments, through the router.
func (r *NetnsRunner) runLoad(ctx context.Context, topo *netnslab.Topology, dir, path string, seed uint64, listen, metrics netip.AddrPort,
	peers []netip.AddrPort, server *process, echo *echoProcess) (loadtest.Result, error) {
	var res loadtest.Result
	peerList := make([]string, len(peers))
	for i, p := range peers {
		peerList[i] = p.String()
	}
	pid := echo.cmd.Process.Pid
	if server != nil {
		pid = server.pid()
	}
	p := r.Params
	args := []string{"-mode", "realistic", "-quiet", "-json", "-",
		"-allocations", strconv.Itoa(p.RealisticAudio + p.RealisticVideo), "-video-flows", strconv.Itoa(p.RealisticVideo),
		"-duration", p.RealisticDuration.String(), "-warmup", p.Warmup.String(),
		"-credential-ttl", "1h", "-user", "bench", "-seed", strconv.FormatUint(seed, 10),
		"-peers", strings.Join(peerList, ","), "-allow-non-loopback", "-server-pid", strconv.Itoa(pid)}
	switch path {
	case PathXDP:
		args = append(args, "-server", listen.String(),
			"-counter-url", "http://"+metrics.String()+"/metrics", "-counter-series", kernelSeries)
	case PathDirect:
		args = append(args, "-direct")
	default:
		args = append(args, "-server", listen.String())
	}
	load := exec.CommandContext(ctx, r.IP, append([]string{"netns", "exec", topo.Client, r.Load}, args...)...)
	// The secret goes by environment, never on a command line ps shows.
	load.Env = append(goEnvironment(), "TURNSTILE_LOAD_SECRET="+r.Settings.Secret)
	load.SysProcAttr = childAttributes()
	logFile, err := os.Create(filepath.Join(dir, "load.log"))
	if err != nil {
		return res, err
	}
	defer logFile.Close()
	load.Stderr = logFile
	var out strings.Builder
	load.Stdout = &out
	err = r.startChild(func() error { return startOnCPUs(load, r.GeneratorCPUs) })
	if err == nil {
		err = load.Wait()
	}
	if err != nil {
		return res, fmt.Errorf("turnstile-load: %w (log %s)", err, logFile.Name())
	}
	if err := os.WriteFile(filepath.Join(dir, "load.json"), []byte(out.String()), 0o644); err != nil {
		return res, err
	}
	if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
		return res, fmt.Errorf("turnstile-load's result: %w", err)
	}
	if server != nil {
		if ended, werr := server.exited(); ended {
			return res, fmt.Errorf("%s died during the load: %v (log %s)", path, werr, server.logPath)
		}
	}
	return res, nil
}

// echoProcess is turnstile-load -echo-only in the peer namespace.
type echoProcess struct {
	cmd     *exec.Cmd
	lines   *bufio.Scanner
	stopped bool
}

// startEcho starts the echo peers and reads their addresses.
func (r *NetnsRunner) startEcho(topo *netnslab.Topology, dir string) (*echoProcess, []netip.AddrPort, error) {
	cmd := exec.Command(r.IP, "netns", "exec", topo.Peer, r.Load, "-echo-only", "-peer-ip", netnslab.PeerIPv4)
	cmd.Env = goEnvironment()
	cmd.SysProcAttr = childAttributes()
	logFile, err := os.Create(filepath.Join(dir, "echo.log"))
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, nil, err
	}
	if err := r.startChild(func() error { return startOnCPUs(cmd, r.GeneratorCPUs) }); err != nil {
		logFile.Close()
		return nil, nil, err
	}
	logFile.Close() // the child holds its own descriptor
	e := &echoProcess{cmd: cmd, lines: bufio.NewScanner(stdout)}
	var line struct {
		Peers []netip.AddrPort `json:"peers"`
	}
	if !e.lines.Scan() || json.Unmarshal(e.lines.Bytes(), &line) != nil || len(line.Peers) == 0 {
		e.stop()
		return nil, nil, fmt.Errorf("the echo peers printed no addresses (log %s)", filepath.Join(dir, "echo.log"))
	}
	return e, line.Peers, nil
}

// stopAndCount ends the echo peers with SIGTERM and reads how many
// datagrams they echoed.
func (e *echoProcess) stopAndCount() (uint64, error) {
	e.stopped = true
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	var line struct {
		Echoed *uint64 `json:"echoed"`
	}
	ok := e.lines.Scan() && json.Unmarshal(e.lines.Bytes(), &line) == nil && line.Echoed != nil
	if err := e.cmd.Wait(); err != nil {
		return 0, fmt.Errorf("the echo peers: %w", err)
	}
	if !ok {
		return 0, errors.New("the echo peers printed no echoed count")
	}
	return *line.Echoed, nil
}

// stop kills the echo peers unless stopAndCount already ended them.
func (e *echoProcess) stop() {
	if e.stopped {
		return
	}
	e.stopped = true
	_ = e.cmd.Process.Kill()
	_ = e.cmd.Wait()
}
