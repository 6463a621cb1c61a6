package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/auth"
)

// writeCertificate writes a fresh self-signed certificate for 127.0.0.1
// and its key as PEM files, and returns the key's PEM body lines (the
// base64 text that must never reach a log).
func writeCertificate(t *testing.T, certFile, keyFile string) []string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "turnstile test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	var body []string
	for _, line := range strings.Split(string(keyPEM), "\n") {
		if line != "" && !strings.HasPrefix(line, "-----") {
			body = append(body, line)
		}
	}
	return body
}

var logTimePattern = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z$`)

// TestLogsFullRun runs the daemon through start, failed and successful
// authentications, a rejected and an accepted secrets reload with a new
// certificate (SIGHUP), drain and exit, then checks every line of its output:
// each is one JSON object starting with time (RFC 3339, UTC, nanoseconds),
// severity and message, and no secret, password or private key appears
// anywhere in stdout or stderr.
func TestLogsFullRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secretsFile := filepath.Join(dir, "secrets")
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")

	const (
		secret1       = "R2d7Kq9VxN4mT8bLc3WzP6hYf1JsG5aE"
		secret2       = "u8Hn3Zq6Lw1Xc9Tv4Rb7Ym2Kp5Sj0Dg"
		rejected      = "Zx81Qw" // too short: the reload must refuse it
		alicePassword = "AlicePw7Hc2Mx9Qv"
		bobPassword   = "BobPw4Tn8Lz1Rk6W"
		wrongPassword = "WrongPw3Jd5Fy8Gs"
		otherSecret   = "NotTheSecretAtAll9Kf2Vb7Mq4Xz1Rt"
	)
	hostileUser := "eve\"\n{\"severity\":\"ERROR\",\"message\":\"forged\"}\t\\"
	if err := os.WriteFile(secretsFile, []byte("# initial\n"+secret1+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	forbidden := []string{secret1, secret2, rejected, alicePassword, bobPassword, wrongPassword, otherSecret}
	forbidden = append(forbidden, writeCertificate(t, certFile, keyFile)...)

	p := startDaemon(t, map[string]string{
		"TURNSTILE_AUTH_SECRETS_FILE": secretsFile,
		"TURNSTILE_USERS":             "alice:" + alicePassword + ",bob:" + bobPassword,
		"TURNSTILE_TLS_LISTEN":        fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp")),
		"TURNSTILE_TLS_CERT_FILE":     certFile,
		"TURNSTILE_TLS_KEY_FILE":      keyFile,
		"TURNSTILE_PEER_ALLOW":        "127.0.0.0/8",
		"TURNSTILE_DRAIN_TIMEOUT":     "10s",
		"TURNSTILE_LOG_LEVEL":         "debug",
	})
	mint := func(secret, user string) (string, string) {
		username, password := auth.MintREST([]byte(secret), user, time.Hour, time.Now())
		forbidden = append(forbidden, password)
		return username, password
	}

	// Failed authentications: a static user with a wrong password, a TURN
	// REST credential minted with another secret, an unknown user, and a
	// hostile REST username with a wrong password.
	badUser, badPass := mint(otherSecret, "carol")
	for _, cred := range [][2]string{
		{"alice", wrongPassword},
		{badUser, badPass},
		{"mallory", bobPassword},
		{"1999999999:" + hostileUser, wrongPassword},
	} {
		if _, err := pionClient(t, p.udp, cred[0], cred[1]).Allocate(); err == nil {
			t.Fatalf("Allocate with wrong credentials for %q succeeded", cred[0])
		}
	}

	// Successful allocations: a static user and a TURN REST user whose name
	// carries quotes, a newline and a forged JSON object.
	peer := echoPeer(t)
	var conns []net.PacketConn
	allocate := func(user, pass string) {
		t.Helper()
		c, err := pionClient(t, p.udp, user, pass).Allocate()
		if err != nil {
			t.Fatalf("allocate as %q: %v", user, err)
		}
		roundTrips(t, c, peer, 3, 32)
		conns = append(conns, c)
	}
	allocate("alice", alicePassword)
	eveName, evePass := mint(secret1, hostileUser)
	allocate(eveName, evePass)

	// A secrets file the start-up rules refuse is rejected on SIGHUP and
	// the old secret stays; then a rotation with a new certificate works.
	if err := os.WriteFile(secretsFile, []byte(rejected+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.signal(t, syscall.SIGHUP)
	p.waitLog(t, "secrets file rejected; keeping the previous secrets", 5*time.Second)
	if err := os.WriteFile(secretsFile, []byte(secret2+"\n"+secret1+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	forbidden = append(forbidden, writeCertificate(t, certFile, keyFile)...)
	p.signal(t, syscall.SIGHUP)
	p.waitLog(t, "secrets reloaded", 5*time.Second)
	allocate(mint(secret2, "rotated"))

	// Drain: SIGTERM, then the clients delete their allocations, so the
	// relay drains before the timeout and exits 0.
	p.signal(t, syscall.SIGTERM)
	p.waitLog(t, "draining", 5*time.Second)
	for _, c := range conns {
		c.Close()
	}
	if code := p.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}

	stdout, stderr := p.stdout.String(), p.stderr.String()
	if stdout != "" {
		t.Errorf("stdout of a configured (non-development) relay: %q, want nothing", stdout)
	}
	for _, s := range forbidden {
		if strings.Contains(stdout, s) || strings.Contains(stderr, s) {
			t.Errorf("secret or password %q appears in the output", s)
		}
	}
	checkLogLines(t, stderr)

	lines := p.logLines(t)
	for _, tc := range []struct {
		message string
		atLeast int
	}{
		{"relay started", 1},
		{"allocation created", 3},
		{"allocation ended", 3},
		{"secrets file rejected; keeping the previous secrets", 1},
		{"secrets reloaded", 1},
		{"certificate reloaded", 2},
		{"draining", 1},
		{"drained", 1},
		{"stopped", 1},
	} {
		if n := p.countLogs(t, tc.message); n < tc.atLeast {
			t.Errorf("%d %q lines, want at least %d", n, tc.message, tc.atLeast)
		}
	}
	found := false
	for _, l := range lines {
		if l["message"] == "allocation created" && l["user"] == eveName {
			found = true
		}
	}
	if !found {
		t.Errorf("no allocation line whose user field decodes to the hostile username %q", eveName)
	}
}

// checkLogLines checks that output is JSON lines, each an object starting
// with "time", "severity" and "message" in that order, time in RFC 3339 UTC
// with nine fractional digits, severity one of the five names, message a
// non-empty string.
func checkLogLines(t *testing.T, output string) {
	t.Helper()
	if output == "" || !strings.HasSuffix(output, "\n") {
		t.Fatalf("stderr does not end with a complete line: %q", output)
	}
	severities := map[string]bool{"TRACE": true, "DEBUG": true, "INFO": true, "WARN": true, "ERROR": true}
	for i, line := range strings.Split(strings.TrimSuffix(output, "\n"), "\n") {
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil || dec.More() {
			t.Errorf("line %d is not one JSON object: %q (%v)", i+1, line, err)
			continue
		}
		keys := firstKeys(t, line, 3)
		if strings.Join(keys, ",") != "time,severity,message" {
			t.Errorf("line %d starts with keys %v, want time, severity, message: %q", i+1, keys, line)
		}
		ts, _ := obj["time"].(string)
		if !logTimePattern.MatchString(ts) {
			t.Errorf("line %d: time %q is not RFC 3339 UTC with nanoseconds", i+1, ts)
		} else if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Errorf("line %d: time %q: %v", i+1, ts, err)
		}
		if sev, _ := obj["severity"].(string); !severities[sev] {
			t.Errorf("line %d: severity %q", i+1, obj["severity"])
		}
		if msg, _ := obj["message"].(string); msg == "" {
			t.Errorf("line %d: no message", i+1)
		}
	}
}

// firstKeys returns the first n top-level keys of a JSON object, in order.
func firstKeys(t *testing.T, line string, n int) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(line)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var keys []string
	for len(keys) < n && dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return keys
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return keys
		}
	}
	return keys
}
