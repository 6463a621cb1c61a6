package relay

import (
	"context"
	"crypto/tls"
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/turnclient"
)

// Helpers shared by the address-family, dual-allocation, ICMP and
// network-namespace tests (family_*, dual_*, icmp_*, netns_*): a turnclient
// on a test server, waiting for events, and closed ports.

// withUDP6ClientListener adds a client-facing UDP listener on [::1], so a
// client can reach the relay over IPv6.
func withUDP6ClientListener(c *Config) {
	c.UDPListen = append(c.UDPListen, netip.MustParseAddrPort("[::1]:0"))
}

// dialTurnclient connects a turnclient with fresh REST credentials to srv's
// listener for transport (server overrides the UDP listener, e.g. the [::1]
// one).
func dialTurnclient(t testing.TB, srv *testServer, transport turnclient.Transport, server ...netip.AddrPort) *turnclient.Client {
	t.Helper()
	user, pass := restCredentials("turnclient")
	cfg := turnclient.Config{
		Transport: transport,
		Username:  user,
		Password:  pass,
		RTO:       100 * time.Millisecond,
		Timeout:   5 * time.Second,
	}
	switch transport {
	case turnclient.UDP:
		cfg.Server = srv.udp
	case turnclient.TCP:
		cfg.Server = srv.tcp
	case turnclient.TLS:
		cfg.Server = srv.tls
		cfg.TLS = &tls.Config{RootCAs: srv.certPool, ServerName: "127.0.0.1"}
	}
	if len(server) > 0 {
		cfg.Server = server[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := turnclient.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// turnEvent waits up to d for the client's next event; ok is false on
// timeout.
func turnEvent(t testing.TB, c *turnclient.Client, buf []byte, d time.Duration) (turnclient.Event, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	ev, err := c.Receive(ctx, buf)
	if err == context.DeadlineExceeded {
		return ev, false
	}
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	return ev, true
}

// mustTurnEvent is turnEvent that fails the test on timeout.
func mustTurnEvent(t testing.TB, c *turnclient.Client, buf []byte) turnclient.Event {
	t.Helper()
	ev, ok := turnEvent(t, c, buf, 3*time.Second)
	if !ok {
		t.Fatal("no event from the relay within 3 s")
	}
	return ev
}

// expectNoTurnEvent asserts that nothing arrives for a while.
func expectNoTurnEvent(t testing.TB, c *turnclient.Client, what string) {
	t.Helper()
	if ev, ok := turnEvent(t, c, make([]byte, 2048), 300*time.Millisecond); ok {
		t.Fatalf("%s: got %+v, want nothing", what, ev)
	}
}

// closedPeerPort returns a loopback address of network ("udp4" or "udp6")
// whose port nobody listens on: a socket is bound to pick a free port and
// closed at once, so datagrams to it draw ICMP port unreachable.
func closedPeerPort(t testing.TB, network string) netip.AddrPort {
	t.Helper()
	p := newUDPPeer(t, network)
	ap := p.addr()
	p.conn.Close()
	return ap
}

// dropsOf reads one drop counter of srv.
func dropsOf(srv *testServer, d Drop) uint64 { return srv.Stats().Drops[d.String()] }

// waitUntil polls cond every 2 ms for up to 3 s (counters are updated by the
// packet loops after the client already got its answer).
//
// It is the relay tests' one polling loop: it waits for what the kernel and
// the packet loops do asynchronously (a datagram handled, a port released, a
// connection closed), never for protocol time, which the fake clock moves.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// udpNetworkOf names the UDP network of ap's family, for sockets that talk
// to it.
func udpNetworkOf(ap netip.AddrPort) string {
	if ap.Addr().Unmap().Is4() {
		return "udp4"
	}
	return "udp6"
}
