// Command turnstile-profile runs the relay in-process, configured by the same
// TURNSTILE_* variables as the daemon, and writes Go CPU and heap profiles
// (runtime/pprof) for `go tool pprof`. The daemon has no pprof endpoint; this
// harness is how the data path is profiled while turnstile-load or
// turnstile-bench drives it from another process.
//
//	TURNSTILE_UDP_LISTEN=127.0.0.1:3478 TURNSTILE_AUTH_SECRETS=... \
//	TURNSTILE_PEER_ALLOW=127.0.0.0/8 TURNSTILE_USER_QUOTA=0 \
//	turnstile-profile -cpuprofile cpu.pprof -heapprofile heap.pprof
//
// The CPU profile covers the process's life from start to SIGTERM/SIGINT;
// -cpu-after delays it (past the load generator's setup). The heap profile
// is written on SIGUSR1 (e.g. after the allocations are set up) and at exit.
// -socket-buffer sets SO_RCVBUF/SO_SNDBUF of the listener and relayed sockets
// (relay.Config.SocketBuffer, which the daemon does not expose); -workers
// sets the number of packet loops (relay.Config.Workers, GOMAXPROCS when 0),
// so loops and GOMAXPROCS can be varied apart.
//
// Only the wiring the data path needs is done: no metrics listener, no
// allocation log, no drain; the relay is closed at once on the signal.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/turnstile-relay/turnstile/internal/wiring"

	"github.com/turnstile-relay/turnstile/config"
	"github.com/turnstile-relay/turnstile/logging"
	"github.com/turnstile-relay/turnstile/relay"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
	if err := run(os.Args[1:], os.Environ(), os.Stderr, sig); err != nil {
		fmt.Fprintln(os.Stderr, "turnstile-profile:", err)
		os.Exit(1)
	}
}

// run serves until sig delivers SIGINT or SIGTERM; SIGUSR1 writes the heap
// profile.
func run(args, environ []string, stderr io.Writer, sig <-chan os.Signal) error {
	fs := flag.NewFlagSet("turnstile-profile", flag.ContinueOnError)
	cpuFile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	cpuAfter := fs.Duration("cpu-after", 0, "start the CPU profile this long after start-up")
	heapFile := fs.String("heapprofile", "", "write a heap profile to this file on SIGUSR1 and at exit")
	workers := fs.Int("workers", 0, "packet loops (relay.Config.Workers; 0: GOMAXPROCS)")
	socketBuffer := fs.Int("socket-buffer", 0, "SO_RCVBUF/SO_SNDBUF in bytes for listener and relayed sockets (0: kernel default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *socketBuffer < 0 {
		return fmt.Errorf("-socket-buffer %d: must not be negative", *socketBuffer)
	}
	if *workers < 0 {
		return fmt.Errorf("-workers %d: must not be negative", *workers)
	}
	cfg, err := config.Load(environ)
	if err != nil {
		return err
	}
	if cfg.Dev || len(cfg.TLSListen) > 0 {
		return errors.New("configure it like the daemon with TURNSTILE_* variables (no development mode, no TLS)")
	}
	rc, _, err := wiring.Relay(cfg, logging.New(stderr, cfg.LogLevel))
	if err != nil {
		return err
	}
	// The harness profiles the UDP and TCP data path; it loads no
	// certificate, so TLS listeners are left out.
	rc.TLSListen = nil
	rc.SocketBuffer = *socketBuffer
	rc.Workers = *workers
	srv, err := relay.New(rc)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintf(stderr, "turnstile-profile: pid %d, udp %v\n", os.Getpid(), srv.UDPAddrs())

	var cpuStart <-chan time.Time
	if *cpuFile != "" {
		cpuStart = time.After(*cpuAfter)
	}
	cpuRunning := false
	for {
		select {
		case <-cpuStart:
			cpuStart = nil
			f, err := os.Create(*cpuFile)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
			cpuRunning = true
		case s := <-sig:
			if s == syscall.SIGUSR1 {
				if err := writeHeap(*heapFile); err != nil {
					fmt.Fprintln(stderr, "turnstile-profile:", err)
				}
				continue
			}
			if cpuRunning {
				pprof.StopCPUProfile()
			}
			return writeHeap(*heapFile)
		}
	}
}

// writeHeap writes a heap profile after a GC, so in-use figures are live
// memory; nothing when file is empty.
func writeHeap(file string) error {
	if file == "" {
		return nil
	}
	runtime.GC()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
