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

// udpNetworkOf names the UDP network of ap's family, for sockets that talk
// to it.
func udpNetworkOf(ap netip.AddrPort) string {
	if ap.Addr().Unmap().Is4() {
		return "udp4"
	}
	return "udp6"
}
