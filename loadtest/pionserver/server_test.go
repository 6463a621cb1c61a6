package pionserver

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
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
		{"too many sockets", Config{Secret: "s", UDPAddr: "127.0.0.1:0", UDPSockets: 257}, "UDPSockets"},
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

// TestUDPSocketsShareTheAddress starts pion on two SO_REUSEPORT sockets and
// checks that both are bound to the one address and that clients from many
// source ports, which the kernel spreads over both, all get answers.
func TestUDPSocketsShareTheAddress(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_REUSEPORT load spreading is Linux's")
	}
	s, err := Start(Config{UDPAddr: "127.0.0.1:0", UDPSockets: 2, Secret: "bench-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := boundUDPSockets(t, s.UDPAddr()); n != 2 {
		t.Fatalf("%d UDP sockets bound to %v, want 2", n, s.UDPAddr())
	}
	// With 32 clients, all hashing to one socket has probability 2^-31.
	for i := range 32 {
		conn, err := net.Dial("udp", s.UDPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		req, _ := turnwire.AllocateRequest(nil)
		if r := transact(t, conn, req); r.Code != int(stun.CodeUnauthorized) {
			t.Fatalf("client %d: code %d", i, r.Code)
		}
		conn.Close()
	}
}

// boundUDPSockets counts the network namespace's IPv4 UDP sockets bound to
// addr, from /proc/net/udp (proc(5)): the kernel prints the address's 32-bit
// word in hex in the host's byte order, then the port.
func boundUDPSockets(t *testing.T, addr netip.AddrPort) int {
	t.Helper()
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		t.Fatal(err)
	}
	ip := addr.Addr().As4()
	want := fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(ip[:]), addr.Port())
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 1 && f[1] == want {
			n++
		}
	}
	return n
}
