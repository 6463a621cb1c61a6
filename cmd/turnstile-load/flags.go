package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/turnstile-relay/turnstile/loadtest"
)

// options are the command's own settings, beside the run's Config.
type options struct {
	jsonPath string
	plotPath string
	quiet    bool
	// echoOnly runs only the echo peers (loadtest.ServeEcho) on -peer-ip.
	echoOnly bool
}

// parseFlags fills a loadtest.Config from the command line, starting from
// loadtest.DefaultConfig. Secrets may come from the environment so that they
// do not show in the process list: TURNSTILE_LOAD_SECRET and
// TURNSTILE_LOAD_PASSWORD.
func parseFlags(fs *flag.FlagSet, args []string) (loadtest.Config, options, error) {
	cfg := loadtest.DefaultConfig()
	var opt options
	var transport, mode, sendPath, peerIP, peers, checkpoints string

	fs.StringVar(&cfg.Server, "server", cfg.Server, "TURN server `host:port` (loopback unless -allow-non-loopback)")
	fs.StringVar(&transport, "transport", string(cfg.Transport), "client transport: udp, tcp or tls")
	fs.StringVar(&cfg.TLSCAFile, "ca", "", "PEM `file` of CA certificates to verify a TLS server with")
	fs.BoolVar(&cfg.TLSInsecureSkipVerify, "insecure", false, "do not verify the TLS server's certificate (self-signed test certificates)")
	fs.StringVar(&cfg.TLSServerName, "tls-server-name", "", "name to verify and send as SNI (default: the -server host)")
	fs.BoolVar(&cfg.AllowNonLoopback, "allow-non-loopback", false, "permit a server and peer address that are not loopback; load only servers you operate")

	fs.StringVar(&cfg.Secret, "secret", os.Getenv("TURNSTILE_LOAD_SECRET"), "TURN REST shared `secret` (default $TURNSTILE_LOAD_SECRET)")
	fs.StringVar(&cfg.User, "user", cfg.User, "REST user id prefix; allocation i authenticates as <expiry>:<user>-<i>")
	fs.DurationVar(&cfg.CredentialTTL, "credential-ttl", cfg.CredentialTTL, "lifetime of REST credentials")
	fs.StringVar(&cfg.Username, "username", "", "static long-term username (instead of -secret)")
	fs.StringVar(&cfg.Password, "password", os.Getenv("TURNSTILE_LOAD_PASSWORD"), "static long-term password (default $TURNSTILE_LOAD_PASSWORD)")

	fs.StringVar(&mode, "mode", string(cfg.Mode), "closed, open, ramp, churn, realistic (audio- and video-like flows, paced with jitter) or tcp (RFC 6062 bulk streams; -transport tcp)")
	fs.IntVar(&cfg.Allocations, "allocations", cfg.Allocations, "allocations (churn: concurrent workers)")
	fs.IntVar(&cfg.InFlight, "inflight", cfg.InFlight, "probes in flight per allocation (closed loop)")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "target packets/s across allocations (open loop)")
	fs.IntVar(&cfg.VideoFlows, "video-flows", cfg.VideoFlows, "realistic: how many of the allocations carry video (the rest audio)")
	fs.DurationVar(&cfg.Jitter, "jitter", cfg.Jitter, "realistic: each packet or frame leaves up to this late")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "realistic: seed of the flows' phases, jitter and frame sizes (0: from the clock)")
	fs.BoolVar(&cfg.GSO, "gso", cfg.GSO, "join a closed-loop window and the echo peers' runs into segmented sends (best case for UDP_GRO servers)")
	fs.StringVar(&sendPath, "send", string(cfg.SendPath), "send path: channel (ChannelData) or send (Send indications)")
	fs.IntVar(&cfg.PayloadSize, "size", cfg.PayloadSize, "probe payload `bytes`")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured time")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "unmeasured traffic before measuring")
	fs.DurationVar(&cfg.PacketTimeout, "timeout", cfg.PacketTimeout, "a probe not back within this is lost")
	fs.Uint64Var(&cfg.MaxPackets, "max-packets", 0, "stop after sending this many probes (0: time bound only)")
	fs.DurationVar(&cfg.RequestTimeout, "request-timeout", cfg.RequestTimeout, "bound on one STUN transaction with retransmissions")
	fs.DurationVar(&cfg.SetupTimeout, "setup-timeout", cfg.SetupTimeout, "bound on setting up all allocations")
	fs.IntVar(&cfg.SetupConcurrency, "setup-concurrency", cfg.SetupConcurrency, "allocations set up at once")
	fs.DurationVar(&cfg.RefreshInterval, "refresh-interval", cfg.RefreshInterval, "refresh allocations, permissions and channels this often")

	fs.Float64Var(&cfg.ChurnRate, "churn-rate", 0, "churn cycles/s across workers (0: unpaced)")
	fs.BoolVar(&cfg.ChurnReuseConnection, "churn-reuse", false, "churn: keep each worker's connection and nonce across cycles")

	fs.Float64Var(&cfg.RampStartRate, "ramp-start", cfg.RampStartRate, "ramp: first step's packets/s")
	fs.Float64Var(&cfg.RampFactor, "ramp-factor", cfg.RampFactor, "ramp: rate multiplier per step")
	fs.Float64Var(&cfg.RampMaxRate, "ramp-max", cfg.RampMaxRate, "ramp: highest rate to try")
	fs.DurationVar(&cfg.RampStepDuration, "ramp-step", cfg.RampStepDuration, "ramp: duration of one step")
	fs.Float64Var(&cfg.RampLossLimit, "ramp-loss", cfg.RampLossLimit, "ramp: stop at the first step losing this fraction")

	fs.StringVar(&peerIP, "peer-ip", cfg.PeerIP.String(), "address the echo peers bind")
	fs.IntVar(&cfg.EchoSockets, "echo-sockets", cfg.EchoSockets, "echo peer sockets (one goroutine each)")
	fs.StringVar(&peers, "peers", "", "comma-separated echo peer `addresses` another process runs (-echo-only), instead of starting echo peers here")
	fs.BoolVar(&cfg.Direct, "direct", false, "baseline: send the same probes straight to the echo peers, no TURN server (UDP; -server and credentials unused)")
	fs.BoolVar(&opt.echoOnly, "echo-only", false, "run only -echo-sockets echo peers on -peer-ip until SIGINT/SIGTERM: print their addresses as a JSON line, then the datagrams echoed")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "server's `pid`, to report its CPU per packet and RSS per allocation")
	fs.StringVar(&cfg.CounterURL, "counter-url", "", "with -server-pid: the server's Prometheus text `URL`, scraped with the CPU clocks at the measured window's start and end (loopback unless -allow-non-loopback)")
	fs.StringVar(&cfg.CounterSeries, "counter-series", "", "with -counter-url: the `series` whose growth over the window is reported as counter_delta, name or name{label=\"value\",...}, matching samples summed")
	fs.StringVar(&checkpoints, "rss-checkpoints", "", "with -server-pid: comma-separated allocation `counts` at which setup reads the server's RssAnon, for the memory per allocation as a slope (e.g. 500,1000,2000)")
	fs.DurationVar(&cfg.SampleInterval, "sample-interval", cfg.SampleInterval, "throughput sampling and progress interval")

	fs.StringVar(&opt.jsonPath, "json", "-", "write the JSON result to this `file` (- for stdout)")
	fs.StringVar(&opt.plotPath, "plot", "", "draw throughput and RTT distribution into this PNG `file`")
	fs.BoolVar(&opt.quiet, "quiet", false, "no summary and no progress line on stderr")

	if err := fs.Parse(args); err != nil {
		return cfg, opt, err
	}
	if fs.NArg() != 0 {
		return cfg, opt, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg.Transport = loadtest.Transport(transport)
	cfg.Mode = loadtest.Mode(mode)
	cfg.SendPath = loadtest.SendPath(sendPath)
	ip, err := netip.ParseAddr(peerIP)
	if err != nil {
		return cfg, opt, fmt.Errorf("-peer-ip: %w", err)
	}
	cfg.PeerIP = ip
	if peers != "" {
		for _, f := range strings.Split(peers, ",") {
			ap, err := netip.ParseAddrPort(strings.TrimSpace(f))
			if err != nil {
				return cfg, opt, fmt.Errorf("-peers: %w", err)
			}
			cfg.Peers = append(cfg.Peers, ap)
		}
	}
	if checkpoints != "" {
		for _, f := range strings.Split(checkpoints, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				return cfg, opt, fmt.Errorf("-rss-checkpoints: %w", err)
			}
			cfg.RSSCheckpoints = append(cfg.RSSCheckpoints, n)
		}
	}
	if opt.echoOnly {
		// Echo peers only answer what reaches them: no server, credentials
		// or load settings apply (ServeEcho checks the address and count).
		return cfg, opt, nil
	}
	// The static password may come from the environment even when REST
	// credentials are used; it only matters with -username.
	if cfg.Username == "" {
		cfg.Password = ""
	}
	return cfg, opt, cfg.Validate()
}

// durationFlagsNote documents units for the usage text.
const durationFlagsNote = "Durations take Go units (500ms, 10s, 2m)."
