package main

import (
	"bytes"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/turnstile-relay/turnstile/config"
	"github.com/turnstile-relay/turnstile/internal/netnstest"
)

// TestStartXDPModes: TURNSTILE_XDP off starts nothing; generic attaches to
// the interface holding the addresses; native where the driver cannot
// (loopback) stops the start with an error naming the mode and the
// interface; auto there runs without the fast path after one warning; an
// unspecified listener address names no interface. Each runs in a network
// namespace of its own, never on the host's interfaces.
func TestStartXDPModes(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("attaching XDP needs root, and CI runs this test")
		}
		t.Skip("attaching XDP needs root")
	}
	leave := netnstest.Enter(t, 0)
	defer leave()
	base := func(mode string, listen string) *config.Config {
		return &config.Config{
			XDP:       mode,
			UDPListen: []netip.AddrPort{netip.MustParseAddrPort(listen)},
			RelayIPs:  []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		}
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	if o, err := startXDP(base(config.XDPOff, "127.0.0.1:3478"), log); o != nil || err != nil {
		t.Fatalf("off: %v, %v; want nothing", o, err)
	}

	o, err := startXDP(base(config.XDPGeneric, "127.0.0.1:3478"), log)
	if err != nil || o == nil {
		t.Fatalf("generic on lo: %v, %v", o, err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	o, err = startXDP(base(config.XDPNative, "127.0.0.1:3478"), log)
	if err == nil || o != nil || !strings.Contains(err.Error(), "native") || !strings.Contains(err.Error(), "lo") {
		t.Fatalf("native on lo: %v, %v; want an error naming the mode and lo", o, err)
	}

	logs.Reset()
	o, err = startXDP(base(config.XDPAuto, "127.0.0.1:3478"), log)
	if err != nil || o != nil {
		t.Fatalf("auto on lo: %v, %v; want the userspace relay alone", o, err)
	}
	if n := strings.Count(logs.String(), "XDP fast path unavailable"); n != 1 {
		t.Fatalf("auto on lo logged %d warnings, want 1:\n%s", n, logs.String())
	}

	if _, err := startXDP(base(config.XDPGeneric, "0.0.0.0:3478"), log); err == nil || !strings.Contains(err.Error(), "names no interface") {
		t.Fatalf("generic with 0.0.0.0: %v, want an error", err)
	}
}
