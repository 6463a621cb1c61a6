package loadtest

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/loadtest/pionserver"
)

const testSecret = "loadtest-secret"

// testServer is an in-process pion/turn server on 127.0.0.1 with UDP, TCP
// and TLS listeners, and the CA file that verifies its certificate.
type testServer struct {
	*pionserver.Server
	caFile string
}

func startTestServer(t *testing.T) *testServer {
	t.Helper()
	cert, pemCert, err := pionserver.SelfSignedCertificate(netip.MustParseAddr("127.0.0.1"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pemCert, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := pionserver.Start(pionserver.Config{
		UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0",
		TLSCertificate: &cert, Secret: testSecret,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &testServer{Server: s, caFile: caFile}
}

// baseConfig is a short closed-loop run against s over UDP.
func (s *testServer) baseConfig() Config {
	cfg := DefaultConfig()
	cfg.Server = s.UDPAddr().String()
	cfg.Secret = testSecret
	cfg.Allocations = 4
	cfg.InFlight = 2
	cfg.Duration = 500 * time.Millisecond
	cfg.Warmup = 100 * time.Millisecond
	cfg.RequestTimeout = 2 * time.Second
	cfg.SetupTimeout = 5 * time.Second
	cfg.SampleInterval = 100 * time.Millisecond
	return cfg
}

func netipMust(s string) netip.Addr { return netip.MustParseAddr(s) }

// dialTestConn connects a UDP client conn to to, reading and writing up to
// batch datagrams per system call; the test's cleanup closes it.
func dialTestConn(t testing.TB, to netip.AddrPort, batch int) *udpConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := newUDPConn(c, batch, batch, 2048, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.close() })
	return conn
}
