package relayext

import (
	"bytes"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/gateway"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/peerpolicy"
	"github.com/turnstile-relay/turnstile/relay"
)

// A relay for the gateway's tests, built through relay's public API only:
// loopback UDP and TCP listeners, TURN REST credentials, loopback peers
// allowed by the default peer policy, and the gateway plugged in as its
// extension. Every socket is on loopback (or in the namespace of
// netns_test.go).

var testSecret = []byte("turnstile-relayext-test-secret")

const testRealm = "relayext.test"

// testServer is a running relay with its gateway.
type testServer struct {
	*relay.Server
	udp, tcp netip.AddrPort
	core     *gateway.Gateway
	x        *recordingExtension
}

type serverOption func(*relay.Config)

// newTestServer starts a relay with opts (withGateway puts the gateway on
// it) and closes it when tb ends.
func newTestServer(tb testing.TB, opts ...serverOption) *testServer {
	tb.Helper()
	creds, err := auth.NewCredentials(auth.CredentialsConfig{Realm: testRealm, Secrets: [][]byte{testSecret}})
	if err != nil {
		tb.Fatal(err)
	}
	peers, err := peerpolicy.New(peerpolicy.Config{
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	})
	if err != nil {
		tb.Fatal(err)
	}
	cfg := relay.Config{
		UDPListen:  []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")},
		TCPListen:  []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")},
		Realm:      testRealm,
		RelayIPs:   []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
		PortMin:    49152,
		PortMax:    65535,
		Allocation: allocation.Defaults,
		Policy:     &relay.DefaultPolicy{Credentials: creds, Peers: peers},
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := relay.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	ts := &testServer{Server: srv, udp: srv.UDPAddrs()[0], tcp: srv.StreamAddrs()[0]}
	if x, ok := cfg.Extension.(*recordingExtension); ok {
		ts.x, ts.core = x, x.core
	}
	return ts
}

// withGateway puts a gateway with the resources file text and resolver on
// the relay.
func withGateway(tb testing.TB, resources string, resolver gateway.Resolver) serverOption {
	tb.Helper()
	core, err := gateway.New(gateway.DefaultConfig())
	if err != nil {
		tb.Fatal(err)
	}
	if err := core.Reload([]byte(resources)); err != nil {
		tb.Fatal(err)
	}
	return func(c *relay.Config) {
		c.Extension = &recordingExtension{Extension: New(core, resolver)}
	}
}

// withRelayAddrs sets the relay IPs relayed sockets bind to.
func withRelayAddrs(ips ...netip.Addr) serverOption {
	return func(c *relay.Config) { c.RelayIPs = ips }
}

// withClock gives the relay the clock of the test.
func withClock(clock mono.Clock) serverOption {
	return func(c *relay.Config) { c.Clock = clock }
}

// recordingExtension is the gateway's Extension as the relay uses it,
// remembering the state of each allocation it admitted so tests can look
// at it (and drive its hooks directly).
type recordingExtension struct {
	*Extension
	mu       sync.Mutex
	sessions []*session
}

// Admit implements relay.Extension.
func (r *recordingExtension) Admit(user string, ft allocation.FiveTuple, now mono.Time) (relay.AllocationExtension, error) {
	x, err := r.Extension.Admit(user, ft, now)
	if err == nil {
		r.mu.Lock()
		r.sessions = append(r.sessions, x.(*session))
		r.mu.Unlock()
	}
	return x, err
}

// last returns the state of the allocation admitted last.
func (r *recordingExtension) last(tb testing.TB) *session {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.sessions) == 0 {
		tb.Fatal("no allocation was admitted")
	}
	return r.sessions[len(r.sessions)-1]
}

// restCredentials mints a TURN REST credential of user valid for an hour
// of wall-clock time from now.
func restCredentials(user string, now time.Time) (string, string) {
	return auth.MintREST(testSecret, user, time.Hour, now)
}

// discardClient is a relay.Client for driving hooks without a relay: it
// counts what would have reached the client and keeps the last payload.
type discardClient struct {
	mu        sync.Mutex
	data, icm int
	last      []byte
}

func (d *discardClient) DeliverData(_ netip.AddrPort, payload []byte) {
	d.mu.Lock()
	d.data++
	d.last = bytes.Clone(payload)
	d.mu.Unlock()
}

func (d *discardClient) DeliverICMP(netip.AddrPort, relay.ICMP) {
	d.mu.Lock()
	d.icm++
	d.mu.Unlock()
}
