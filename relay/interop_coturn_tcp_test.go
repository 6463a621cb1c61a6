package relay

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/testcert"
)

// tcpRelayBound is the check of the uclient runs with -T: the relay bound
// peer data connections (RFC 6062), so the bytes did not take another way.
func tcpRelayBound(t *testing.T, srv *testServer, _ []byte) {
	t.Helper()
	st := srv.TCPRelayStats()
	if st.Outcomes["bound"] == 0 || st.BytesToPeer == 0 || st.BytesToClient == 0 {
		t.Fatalf("no relayed TCP connection: %+v", st)
	}
	t.Logf("turnstile relayed TCP: %+v", st)
}

// TestUclientTCPRelayAgainstCoturn is the control of the tcp-relay runs of
// TestUclient: the same turnutils_uclient flags (-T, and -T -S over TLS)
// against coturn's own turnserver, which relays TCP too. Both must be
// lossless; the log shows coturn's summary next to turnstile's.
func TestUclientTCPRelayAgainstCoturn(t *testing.T) {
	t.Parallel()
	uclient := requireTool(t, "turnutils_uclient", "coturn")
	turnserver := requireTool(t, "turnserver", "coturn")
	dir := t.TempDir()
	cert, key := testcert.WriteFiles(t)
	tcpPort, tlsPort := freeTCPPort(t), freeTCPPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := exec.CommandContext(ctx, turnserver, "-n",
		"--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
		"--listening-port="+strconv.Itoa(tcpPort), "--tls-listening-port="+strconv.Itoa(tlsPort),
		"--min-port=61000", "--max-port=61999",
		"--use-auth-secret", "--static-auth-secret="+string(testSecret), "--realm="+testRealm,
		"--allow-loopback-peers", "--no-cli", "--no-dtls", "--no-rfc5780",
		"--cert="+cert, "--pkey="+key,
		"--log-file="+filepath.Join(dir, "coturn.log"), "--simple-log", "--no-stdout-log",
		"--pidfile="+filepath.Join(dir, "coturn.pid"), "--db="+filepath.Join(dir, "coturn.sqlite"),
	)
	var serverOut bytes.Buffer
	srv.Stdout, srv.Stderr = &serverOut, &serverOut
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		srv.Wait()
	}()
	waitListening(t, tcpPort)
	waitListening(t, tlsPort)

	user, pass := restCredentials("uclient-coturn")
	for _, run := range []struct {
		name  string
		flags []string
		port  int
	}{
		{"tcp-relay", []string{"-T"}, tcpPort},
		{"tcp-relay/tls", []string{"-T", "-S"}, tlsPort},
	} {
		args := append([]string{"-y", "-n", "50", "-m", "4", "-l", "120", "-z", "5"}, run.flags...)
		args = append(args, "-u", user, "-w", pass, "-p", strconv.Itoa(run.port), "127.0.0.1")
		out, err := exec.CommandContext(ctx, uclient, args...).CombinedOutput()
		t.Run(run.name, func(t *testing.T) {
			requireLossless(t, args, err, out)
			t.Logf("coturn (control): %s", lastLines(out, 6))
		})
	}
}

// freeTCPPort returns a loopback TCP port that was free a moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitListening waits (bounded) until a started server accepts on port.
func waitListening(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("turnserver does not listen on %d: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
