// Command turnstile-load drives a TURN server (turnstile, coturn, pion/turn)
// with load and reports packets/s, loss, round-trip-time percentiles,
// allocations/s and, given the server's pid, its CPU per relayed packet and
// RSS per allocation. It is a thin shell over package loadtest.
//
//	turnstile-load -server 127.0.0.1:3478 -secret s3cret
//	turnstile-load -mode realistic -allocations 300 -video-flows 60
//	turnstile-load -mode churn -transport tcp -allocations 16 -duration 10s
//	turnstile-load -mode ramp -send send -size 200 -plot ramp.png -json ramp.json
//
// The JSON result goes to stdout (or -json file); a summary, and on a
// terminal a live progress line, go to stderr. A run stops by itself after
// its setup, warmup and -duration; interrupting it (SIGINT/SIGTERM) deletes
// the allocations and still writes what was measured.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/turnstile-relay/turnstile/loadtest"
	"github.com/turnstile-relay/turnstile/loadtest/chart"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main with its inputs and outputs explicit. It returns the exit
// status: 0 success, 1 a failed run, 2 bad usage.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("turnstile-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: turnstile-load [flags]")
		fmt.Fprintln(stderr, durationFlagsNote)
		fs.PrintDefaults()
	}
	cfg, opt, err := parseFlags(fs, args)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "turnstile-load:", err)
		}
		return 2
	}
	if !opt.quiet && isTerminal(os.Stderr) {
		cfg.Progress = stderr
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if opt.echoOnly {
		return serveEcho(ctx, cfg, stdout, stderr)
	}
	res, runErr := loadtest.Run(ctx, cfg)

	status := 0
	if runErr != nil {
		fmt.Fprintln(stderr, "turnstile-load:", runErr)
		status = 1
	}
	if res.Mode == "" {
		return status // nothing ran: validation or resolution failed
	}
	if !opt.quiet {
		res.WriteSummary(stderr)
	}
	if err := writeJSON(opt.jsonPath, stdout, &res); err != nil {
		fmt.Fprintln(stderr, "turnstile-load: -json:", err)
		status = 1
	}
	if opt.plotPath != "" {
		if err := chart.SavePNG(opt.plotPath, &res); err != nil {
			fmt.Fprintln(stderr, "turnstile-load: -plot:", err)
			status = 1
		}
	}
	return status
}

// writeJSON writes the indented result to path, or to stdout for "-".
func writeJSON(path string, stdout io.Writer, res *loadtest.Result) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err = stdout.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// echoPeersLine and echoedLine are what -echo-only prints, one JSON line
// each: the peers' addresses once they listen (for the load's -peers), and
// the datagrams they echoed once a signal ends them.
type echoPeersLine struct {
	Peers []netip.AddrPort `json:"peers"`
}

type echoedLine struct {
	Echoed uint64 `json:"echoed"`
}

func serveEcho(ctx context.Context, cfg loadtest.Config, stdout, stderr io.Writer) int {
	enc := json.NewEncoder(stdout)
	var writeErr error
	echoed, err := loadtest.ServeEcho(ctx, cfg.PeerIP, cfg.EchoSockets, func(peers []netip.AddrPort) {
		writeErr = enc.Encode(echoPeersLine{Peers: peers})
	})
	if err == nil {
		err = writeErr
	}
	if err == nil {
		err = enc.Encode(echoedLine{Echoed: echoed})
	}
	if err != nil {
		fmt.Fprintln(stderr, "turnstile-load:", err)
		return 1
	}
	return 0
}
