package pionserver

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v2"
	"github.com/turnstile-relay/turnstile/loadtest/turnwire"
)

func TestStartRejectsBadConfig(t *testing.T) {
	cert, _, err := SelfSignedCertificate(netip.MustParseAddr("127.0.0.1"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no secret", Config{UDPAddr: "127.0.0.1:0"}, "Secret"},
		{"no listener", Config{Secret: "s"}, "no listener"},
		{"tls without cert", Config{Secret: "s", TLSAddr: "127.0.0.1:0"}, "TLSCertificate"},
		{"not loopback", Config{Secret: "s", UDPAddr: "0.0.0.0:0"}, "loopback"},
		{"hostname", Config{Secret: "s", TCPAddr: "localhost:0"}, "IP:port"},
		{"tls not loopback", Config{Secret: "s", TLSAddr: "192.0.2.1:0", TLSCertificate: &cert}, "loopback"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Start(tc.cfg)
			if err == nil {
				s.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// transact sends req over conn and returns the response with its ID.
func transact(t *testing.T, conn net.Conn, req turnwire.Request) *turnwire.Response {
	t.Helper()
	if _, err := conn.Write(req.Raw); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		r, err := turnwire.ParseResponse(buf[:n])
		if err == nil && r.TransactionID == req.TransactionID {
			return r
		}
	}
}

func TestAllocateOverUDPWithRESTCredentials(t *testing.T) {
	s, err := Start(Config{UDPAddr: "127.0.0.1:0", Secret: "bench-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.UDPAddr().IsValid() || s.TCPAddr().IsValid() || s.TLSAddr().IsValid() {
		t.Fatalf("addresses udp=%v tcp=%v tls=%v", s.UDPAddr(), s.TCPAddr(), s.TLSAddr())
	}
	conn, err := net.Dial("udp", s.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	user, pass := turnwire.RESTCredentials("bench-secret", "t", time.Now().Add(time.Hour))
	auth := turnwire.NewAuth(user, pass)
	req, _ := turnwire.AllocateRequest(auth)
	r := transact(t, conn, req)
	if r.Code != int(stun.CodeUnauthorized) || r.Realm != DefaultRealm || r.Nonce == "" {
		t.Fatalf("first Allocate: code %d realm %q", r.Code, r.Realm)
	}
	auth.Learn(r.Realm, r.Nonce)
	req, _ = turnwire.AllocateRequest(auth)
	r = transact(t, conn, req)
	if r.Code != 0 || !r.Relayed.Addr().IsLoopback() {
		t.Fatalf("Allocate: code %d %s relayed %v", r.Code, r.Reason, r.Relayed)
	}
	if err := r.VerifyIntegrity(auth.Key()); err != nil {
		t.Fatal(err)
	}

	// Loopback peers are admitted, others refused.
	req, _ = turnwire.CreatePermissionRequest(auth, netip.MustParseAddrPort("127.0.0.1:9"))
	if r = transact(t, conn, req); r.Code != 0 {
		t.Fatalf("loopback permission refused: %d", r.Code)
	}
	req, _ = turnwire.ChannelBindRequest(auth, turnwire.ChannelMin, netip.MustParseAddrPort("192.0.2.7:9"))
	if r = transact(t, conn, req); r.Code == 0 {
		t.Fatal("non-loopback peer admitted")
	}
}

func TestTLSListenerServesCertificate(t *testing.T) {
	ip := netip.MustParseAddr("127.0.0.1")
	cert, pemCert, err := SelfSignedCertificate(ip, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(Config{TCPAddr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", TLSCertificate: &cert, Secret: "x"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCert) {
		t.Fatal("PEM not parsed")
	}
	conn, err := tls.Dial("tcp", s.TLSAddr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req, _ := turnwire.AllocateRequest(nil)
	if r := transact(t, conn, req); r.Code != 401 {
		t.Fatalf("code %d", r.Code)
	}
	tcp, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	req, _ = turnwire.AllocateRequest(nil)
	if r := transact(t, tcp, req); r.Code != 401 {
		t.Fatalf("tcp code %d", r.Code)
	}
}
