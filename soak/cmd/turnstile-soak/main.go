// Command turnstile-soak runs `make soak`: it starts the relay binary on
// loopback, loads it with churn, relayed traffic over UDP, TCP and TLS,
// reloads, vanishing peers and clients that stop reading for -duration,
// samples its memory, descriptors, goroutines and allocations, and exits
// 1 unless they stayed flat after the warm-up and every cycle succeeded
// (package soak). The result and the plot go to -out/<start time>/.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/turnstile-relay/turnstile/soak"
)

func main() {
	os.Exit(run())
}

func run() int {
	duration := flag.Duration("duration", 30*time.Minute, "how long the load runs (30s to 24h)")
	relay := flag.String("relay", "bin/turnstile", "the relay binary")
	out := flag.String("out", "bin/soak", "directory for the run's directory (result.json, soak.png, relay.log)")
	label := flag.String("label", "", "what is soaked, e.g. the commit, for the result")
	warmup := flag.Duration("warmup", 0, "warm-up before the series must be flat (default: a quarter of -duration, at most 5m)")
	flag.Parse()
	cfg := soak.DefaultConfig(*duration)
	cfg.RelayBinary, cfg.OutDir, cfg.Label = *relay, *out, *label
	if *warmup > 0 {
		cfg.Warmup = *warmup
	}
	cfg.Progress = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(os.Stderr, "soak: %v of load (warm-up %v, a sample every %v) against %s\n", cfg.Duration, cfg.Warmup, cfg.SampleInterval, cfg.RelayBinary)
	res, err := soak.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	report(res)
	if !res.Passed {
		return 1
	}
	return 0
}

// report prints the table of levels and the cycles.
func report(r *soak.Result) {
	fmt.Printf("soak of %s: %s\n", r.Label, r.Dir)
	fmt.Printf("%-16s %14s %14s %14s %14s %14s\n", "series", "start", "after warm-up", "min after", "max after", "end")
	for _, name := range []string{"rss_anon_bytes", "fds", "goroutines", "allocations"} {
		l := r.Levels[name]
		f := func(v float64) string { return fmt.Sprintf("%.0f", v) }
		if name == "rss_anon_bytes" {
			f = func(v float64) string { return fmt.Sprintf("%.1f MiB", v/(1<<20)) }
		}
		fmt.Printf("%-16s %14s %14s %14s %14s %14s\n", name, f(l.Start), f(l.Warmup), f(l.Min), f(l.Max), f(l.End))
	}
	names := make([]string, 0, len(r.Cycles))
	for n := range r.Cycles {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := r.Cycles[n]
		fmt.Printf("cycles %-24s %8d attempted %4d failed %v\n", n, c.Attempted, c.Failed, c.Failures)
	}
	for _, t := range []string{"udp", "tcp", "tls"} {
		tr := r.Traffic[t]
		fmt.Printf("traffic %-4s %9d sent %9d received %6d lost\n", t, tr.Sent, tr.Received, tr.Lost)
	}
	fmt.Printf("vanished peers: %d datagrams sent after they vanished, %d ICMP errors forwarded\n", r.Vanished.SentToVanished, r.Vanished.ICMPReceived)
	fmt.Printf("relay: %d write-budget drops, %d secrets and %d resources reloads, %d errors and %d warnings logged\n",
		r.End.WriteBudgetDrops, r.Log.SecretsReloaded, r.Log.ResourcesReloaded, r.Log.Errors, r.Log.Warnings)
	if r.Passed {
		fmt.Println("soak: PASS")
		return
	}
	for _, v := range r.Violations {
		fmt.Println("soak: FAIL:", v)
	}
}
