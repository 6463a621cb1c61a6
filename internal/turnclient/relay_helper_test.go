package turnclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono/monotest"
	"github.com/turnstile-relay/turnstile/internal/testcert"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/peerpolicy"
	"github.com/turnstile-relay/turnstile/relay"
)

// These helpers run a real turnstile relay in the test process (relay.New
// with an in-test configuration) on loopback, with TURN REST credentials and
// loopback peers allowed, so the client is tested against the server it is
// written for. Every socket is on 127.0.0.1 or ::1.

var helperSecret = []byte("turnclient-test-secret")

const helperRealm = "turnclient.test"

type testRelay struct {
	srv           *relay.Server
	udp, tcp, tls netip.AddrPort
	roots         *x509.CertPool
	// clock is the relay's clock (its wall clock is stepped by tests of
	// nonce expiry).
	clock *monotest.Clock
}

func startRelay(t testing.TB, change ...func(*relay.Config)) *testRelay {
	t.Helper()
	creds, err := auth.NewCredentials(auth.CredentialsConfig{Realm: helperRealm, Secrets: [][]byte{helperSecret}})
	if err != nil {
		t.Fatal(err)
	}
	peers, err := peerpolicy.New(peerpolicy.Config{
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	})
	if err != nil {
		t.Fatal(err)
	}
	cert, roots := testcert.New(t)
	tr := &testRelay{roots: roots, clock: monotest.New(time.Now())}
	cfg := relay.Config{
		UDPListen:  []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")},
		TCPListen:  []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")},
		TLSListen:  []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")},
		TLS:        &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Realm:      helperRealm,
		RelayIPs:   []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
		PortMin:    49152,
		PortMax:    65535,
		Allocation: allocation.Defaults,
		Policy:     &relay.DefaultPolicy{Credentials: creds, Peers: peers},
		Workers:    2,
		Clock:      tr.clock,
	}
	for _, f := range change {
		f(&cfg)
	}
	srv, err := relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	tr.srv = srv
	tr.udp = srv.UDPAddrs()[0]
	streams := srv.StreamAddrs()
	tr.tcp, tr.tls = streams[0], streams[1]
	return tr
}

// dialRelay connects a client with fresh REST credentials over transport.
func (tr *testRelay) dialRelay(t testing.TB, transport Transport, change ...func(*Config)) *Client {
	t.Helper()
	user, pass := auth.MintREST(helperSecret, "client", time.Hour, tr.clock.Wall())
	cfg := Config{Transport: transport, Username: user, Password: pass, RTO: 100 * time.Millisecond, Timeout: 5 * time.Second}
	switch transport {
	case UDP:
		cfg.Server = tr.udp
	case TCP:
		cfg.Server = tr.tcp
	case TLS:
		cfg.Server = tr.tls
		cfg.TLS = &tls.Config{RootCAs: tr.roots, ServerName: "127.0.0.1"}
	}
	for _, f := range change {
		f(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// receive waits up to 3 s for one event.
func receive(t testing.TB, c *Client, buf []byte) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ev, err := c.Receive(ctx, buf)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	return ev
}

// echoPeer is a loopback UDP socket that sends every datagram back.
func echoPeer(t testing.TB, network, addr string) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}
