package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/turnstile-relay/turnstile/bench"
)

// netnsLoad is -loads' name for issue 14's speed profile.
const netnsLoad = "xdp"

// netnsReport is report.json of a -loads xdp run.
type netnsReport struct {
	Started  time.Time           `json:"started"`
	Seconds  float64             `json:"seconds"`
	Machine  bench.Machine       `json:"machine"`
	Command  string              `json:"command"`
	Revision string              `json:"revision"`
	Runs     int                 `json:"runs"`
	Threads  int                 `json:"threads"`
	Profile  bench.ProfileResult `json:"profile"`
	Windows  []bench.PathWindow  `json:"windows"`
	Error    string              `json:"error,omitempty"`
}

// runNetnsProfile runs the speed profile and writes report.md (the table)
// and report.json (the table and every window) into a new directory.
func runNetnsProfile(o options) (int, error) {
	if os.Geteuid() != 0 {
		return 2, errors.New("-loads xdp needs root: it creates network namespaces and attaches XDP programs (sudo make bench-xdp)")
	}
	for _, p := range []*string{&o.loadBin, &o.ip} {
		path, err := exec.LookPath(*p)
		if err != nil {
			return 2, fmt.Errorf("-loads xdp: %w (make bench-xdp builds turnstile-load)", err)
		}
		if *p, err = filepath.Abs(path); err != nil {
			return 2, err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	dir := filepath.Join(o.out, started.UTC().Format("20060102-150405"))
	params := bench.FullParams()
	if o.quick {
		params = bench.QuickParams()
	}
	r := &bench.NetnsRunner{
		IP: o.ip, Turnstile: o.bins.Turnstile, Turnserver: o.bins.Turnserver, Load: o.loadBin,
		Settings: bench.ServerSettings{Secret: randomSecret(), Realm: o.realm, Threads: o.threads},
		Params:   params, Runs: o.runs, Dir: filepath.Join(dir, "windows"), Log: os.Stderr,
		ServerCPUs: o.serverCPUs, GeneratorCPUs: o.generatorCPUs,
	}
	fmt.Fprintf(os.Stderr, "turnstile-bench: the netns speed profile, %d run(s); results in %s\n", o.runs, dir)
	profile, windows, runErr := r.Run(ctx)
	rep := netnsReport{
		Started: started, Seconds: time.Since(started).Seconds(),
		Machine: bench.DescribeMachine(context.Background(), o.bins.Turnserver),
		Command: strings.Join(os.Args, " "), Revision: revision(), Runs: o.runs, Threads: o.threads,
		Profile: profile, Windows: windows,
	}
	if runErr != nil {
		rep.Error = runErr.Error()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 1, err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return 1, err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(js, '\n'), 0o644); err != nil {
		return 1, err
	}
	if runErr != nil {
		return 1, runErr
	}
	md := fmt.Sprintf("# netns speed profile\n\n%s, %d run(s) of %v of the realistic load per datapath; %s\n\n%s",
		started.UTC().Format(time.RFC3339), o.runs, params.RealisticDuration, rep.Machine.Kernel, profile.Markdown())
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(md), 0o644); err != nil {
		return 1, err
	}
	fmt.Print(md)
	fmt.Printf("\nReport: %s, %s\n", filepath.Join(dir, "report.md"), filepath.Join(dir, "report.json"))
	return 0, nil
}
