package relay

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/testcert"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/peerpolicy"
)

// testSecret is the TURN REST shared secret of test servers.
var testSecret = []byte("turnstile-test-secret")

const testRealm = "turnstile.test"

// testServer is a relay on loopback with UDP, TCP and TLS listeners, REST
// credentials and loopback peers explicitly allowed.
type testServer struct {
	*Server
	udp, tcp, tls netip.AddrPort
	certPool      *x509.CertPool
	events        *eventLog
}

type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) count(kind EventKind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

type serverOption func(*Config)

func newTestServer(t testing.TB, opts ...serverOption) *testServer {
	t.Helper()
	creds, err := auth.NewCredentials(auth.CredentialsConfig{
		Realm:       testRealm,
		Secrets:     [][]byte{testSecret},
		StaticUsers: map[string]string{"static": "static-password"},
	})
	if err != nil {
		t.Fatal(err)
	}
	peers, err := peerpolicy.New(peerpolicy.Config{
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
	})
	if err != nil {
		t.Fatal(err)
	}
	cert, pool := testcert.New(t)
	events := &eventLog{}
	cfg := Config{
		UDPListen:  []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")},
		TCPListen:  []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")},
		TLSListen:  []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")},
		TLS:        &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Realm:      testRealm,
		Software:   "turnstile-test",
		RelayIPs:   []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
		PortMin:    49152,
		PortMax:    65535,
		Allocation: allocation.Defaults,
		Policy:     &DefaultPolicy{Credentials: creds, Peers: peers},
		Events:     events.add,
	}
	for _, o := range opts {
		o(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	goroutines := runtime.NumGoroutine()
	_ = goroutines
	t.Cleanup(func() { s.Close() })
	ts := &testServer{Server: s, certPool: pool, events: events}
	ts.udp = s.UDPAddrs()[0]
	streams := s.StreamAddrs()
	if len(cfg.TCPListen) > 0 {
		ts.tcp = streams[0]
	}
	if len(cfg.TLSListen) > 0 {
		ts.tls = streams[len(cfg.TCPListen)]
	}
	return ts
}

// restCredentials mints a TURN REST credential valid for an hour.
func restCredentials(user string) (string, string) {
	return auth.MintREST(testSecret, user, time.Hour, time.Now())
}

// echoPeer is a UDP peer on loopback that sends every datagram back.
func echoPeer(t testing.TB, network, addr string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo(buf[:n], from)
		}
	}()
	return c.(*net.UDPConn)
}
