package loadtest

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestLoadThroughExternalPeers: echo peers served by ServeEcho (as
// another process would run them) answer a load given their addresses
// in Config.Peers; every datagram the load got back was echoed by them,
// and no echo peer of the load's own took part.
func TestLoadThroughExternalPeers(t *testing.T) {
	s := startTestServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan []netip.AddrPort, 1)
	type served struct {
		echoed uint64
		err    error
	}
	done := make(chan served, 1)
	go func() {
		n, err := ServeEcho(ctx, netipMust("127.0.0.1"), 2, func(p []netip.AddrPort) { ready <- p })
		done <- served{n, err}
	}()
	peers := <-ready
	if len(peers) != 2 {
		t.Fatalf("ServeEcho listens on %v, want 2 sockets", peers)
	}

	cfg := s.baseConfig()
	cfg.Peers = peers
	// A PeerIP no socket here can bind (TEST-NET-1, RFC 5737): the load
	// must not start echo peers of its own. Nothing is ever sent to it.
	cfg.AllowNonLoopback = true
	cfg.PeerIP = netipMust("192.0.2.1")
	cfg.EchoSockets = 1
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Packets == nil || res.Packets.Received == 0 {
		t.Fatalf("no datagram came back through the external peers: %+v", res.Packets)
	}
	cancel()
	got := <-done
	if got.err != nil {
		t.Fatal(got.err)
	}
	// Warm-up datagrams were echoed too, so at least as many as measured.
	if got.echoed < res.Packets.Received {
		t.Fatalf("the external peers echoed %d datagrams, the load received %d back", got.echoed, res.Packets.Received)
	}
}

func TestPeersMustBeLoopbackAndComplete(t *testing.T) {
	for _, p := range []string{"192.0.2.1:9", "127.0.0.1:0"} {
		cfg := DefaultConfig()
		cfg.Secret = testSecret
		cfg.Peers = []netip.AddrPort{netip.MustParseAddrPort(p)}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "Peers") {
			t.Errorf("Peers %s: %v, want a refusal", p, err)
		}
	}
}

func TestServeEchoRefusesBadSocketCounts(t *testing.T) {
	for _, n := range []int{0, 257} {
		if _, err := ServeEcho(context.Background(), netipMust("127.0.0.1"), n, func([]netip.AddrPort) {}); err == nil {
			t.Errorf("%d sockets accepted", n)
		}
	}
}

// TestDirectReachesPeersWithoutServer: the direct baseline sends the
// realistic flows straight to the echo peers, with no TURN server at all
// (Server points at a port nothing answers on), and gets every probe back.
func TestDirectReachesPeersWithoutServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan []netip.AddrPort, 1)
	echoed := make(chan uint64, 1)
	go func() {
		n, _ := ServeEcho(ctx, netipMust("127.0.0.1"), 2, func(p []netip.AddrPort) { ready <- p })
		echoed <- n
	}()
	cfg := DefaultConfig()
	cfg.Server = "127.0.0.1:9" // discard: never contacted
	cfg.Direct = true
	cfg.Peers = <-ready
	cfg.Mode, cfg.Allocations, cfg.VideoFlows = ModeRealistic, 4, 1
	cfg.Duration, cfg.Warmup = 500*time.Millisecond, 100*time.Millisecond
	cfg.SampleInterval = 100 * time.Millisecond
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Packets == nil || res.Packets.Received == 0 || res.Packets.Stray != 0 {
		t.Fatalf("direct run: %+v", res.Packets)
	}
	if res.Refreshes != 0 || len(res.TeardownFailures) != 0 {
		t.Fatalf("direct run refreshed %d times, teardown failures %v", res.Refreshes, res.TeardownFailures)
	}
	cancel()
	if n := <-echoed; n < res.Packets.Received {
		t.Fatalf("peers echoed %d, the load received %d", n, res.Packets.Received)
	}
}

func TestDirectNeedsUDPPacketModes(t *testing.T) {
	for _, m := range []Mode{ModeChurn} {
		cfg := DefaultConfig()
		cfg.Direct, cfg.Mode = true, m
		if err := cfg.Validate(); err == nil {
			t.Errorf("Direct with mode %s accepted", m)
		}
	}
	cfg := DefaultConfig()
	cfg.Direct, cfg.Transport = true, TransportTCP
	if err := cfg.Validate(); err == nil {
		t.Error("Direct over TCP accepted")
	}
	cfg = DefaultConfig()
	cfg.Direct = true // no credentials needed
	if err := cfg.Validate(); err != nil {
		t.Errorf("Direct without credentials: %v", err)
	}
}
