package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// lineSignal is a stdout that hands each written line to a channel.
type lineSignal struct {
	mu    sync.Mutex
	lines chan []byte
}

func (w *lineSignal) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines <- bytes.Clone(b)
	return len(b), nil
}

// TestEchoOnlyPrintsPeersThenEchoed: -echo-only's first line names the
// peers, which echo a datagram; the last, after the signal, counts it.
func TestEchoOnlyPrintsPeersThenEchoed(t *testing.T) {
	cfg, opt, err := parseFlags(flag.NewFlagSet("t", flag.ContinueOnError), []string{"-echo-only", "-echo-sockets", "1"})
	if err != nil || !opt.echoOnly {
		t.Fatalf("parse: %v, echoOnly %v", err, opt.echoOnly)
	}
	out := &lineSignal{lines: make(chan []byte, 2)}
	ctx, cancel := context.WithCancel(context.Background())
	status := make(chan int, 1)
	go func() { status <- serveEcho(ctx, cfg, out, io.Discard) }()

	var peers echoPeersLine
	if err := json.Unmarshal(<-out.lines, &peers); err != nil || len(peers.Peers) != 1 {
		cancel()
		t.Fatalf("first line: %+v, %v", peers, err)
	}
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WriteToUDPAddrPort([]byte("ping"), peers.Peers[0]); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 16)
	if n, _, err := c.ReadFromUDPAddrPort(buf); err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("echo: %q, %v", buf[:n], err)
	}
	cancel()
	if s := <-status; s != 0 {
		t.Fatalf("exit %d", s)
	}
	var echoed echoedLine
	if err := json.Unmarshal(<-out.lines, &echoed); err != nil || echoed.Echoed != 1 {
		t.Fatalf("last line: %+v, %v", echoed, err)
	}
}

func TestPeersFlag(t *testing.T) {
	cfg, _, err := parseFlags(flag.NewFlagSet("t", flag.ContinueOnError),
		[]string{"-secret", "s", "-peers", "127.0.0.1:4000, 127.0.0.2:4001"})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:4000"), netip.MustParseAddrPort("127.0.0.2:4001")}
	if len(cfg.Peers) != 2 || cfg.Peers[0] != want[0] || cfg.Peers[1] != want[1] {
		t.Fatalf("Peers %v, want %v", cfg.Peers, want)
	}
	cfg, _, err = parseFlags(flag.NewFlagSet("t", flag.ContinueOnError), []string{"-direct", "-mode", "realistic"})
	if err != nil || !cfg.Direct {
		t.Fatalf("-direct without credentials: Direct %v, %v", cfg.Direct, err)
	}
	if _, _, err := parseFlags(flag.NewFlagSet("t", flag.ContinueOnError), []string{"-secret", "s", "-peers", "127.0.0.1"}); err == nil {
		t.Fatal("-peers without a port accepted")
	}
}
