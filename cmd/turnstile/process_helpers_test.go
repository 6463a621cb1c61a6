package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	pionlogging "github.com/pion/logging"
	"github.com/pion/turn/v3"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// daemonBinary is the turnstile binary TestMain builds for the process tests.
var daemonBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "turnstile-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	daemonBinary = filepath.Join(dir, "turnstile")
	build := exec.Command("go", "build", "-o", daemonBinary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the daemon:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// relayPortRange is the relayed port range of the test daemons: below
// Linux's ephemeral range (32768-60999), so no port the kernel hands out
// for listeners falls inside it, as config requires.
const relayPortRange = "20000-29999"

// freePort returns a loopback port that was free a moment ago for network
// ("udp" or "tcp"). Another process may take it before the daemon binds it;
// the range of ephemeral ports makes that rare.
func freePort(t *testing.T, network string) uint16 {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return uint16(c.LocalAddr().(*net.UDPAddr).Port)
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// syncBuffer is a bytes.Buffer written by a child's output pipe and read by
// the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// daemonProc is a running turnstile process.
type daemonProc struct {
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	udp            netip.AddrPort
	metricsURL     string // http://127.0.0.1:port
	exited         chan struct{}
	exitCode       int
	exitedAt       time.Time
}

// daemonEnv is the environment of a test daemon: a UDP listener and a
// metrics listener on free loopback ports, and extra TURNSTILE_* settings.
// Nothing else from the test's environment is passed on.
func startDaemon(t *testing.T, extra map[string]string) *daemonProc {
	t.Helper()
	p := &daemonProc{exited: make(chan struct{})}
	p.udp = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), freePort(t, "udp"))
	metricsPort := freePort(t, "tcp")
	p.metricsURL = fmt.Sprintf("http://127.0.0.1:%d", metricsPort)
	vars := map[string]string{
		"TURNSTILE_UDP_LISTEN":     p.udp.String(),
		"TURNSTILE_METRICS_LISTEN": fmt.Sprintf("127.0.0.1:%d", metricsPort),
		"TURNSTILE_PORT_RANGE":     relayPortRange,
		"TURNSTILE_REALM":          testRealm,
	}
	for k, v := range extra {
		vars[k] = v
	}
	var env []string
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	p.cmd = exec.Command(daemonBinary)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.exitCode, p.exitedAt = p.cmd.ProcessState.ExitCode(), time.Now()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("daemon stderr:\n%s\ndaemon stdout:\n%s", p.stderr.String(), p.stdout.String())
		}
	})
	p.waitLog(t, "relay started", 10*time.Second)
	return p
}

const testRealm = "turnstile.test"

// signal sends sig to the daemon.
func (p *daemonProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// wait waits up to timeout for the daemon to exit and returns its code.
func (p *daemonProc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.exitCode
	case <-time.After(timeout):
		t.Fatalf("daemon still running after %v", timeout)
	}
	return -1
}

// logLines decodes the daemon's stderr so far, one JSON object per
// complete line; a line that is not a JSON object fails the test.
func (p *daemonProc) logLines(t *testing.T) []map[string]any {
	t.Helper()
	text := p.stderr.String()
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[:i+1]
	} else {
		text = ""
	}
	var out []map[string]any
	for _, line := range strings.SplitAfter(text, "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stderr line is not a JSON object: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// waitLog waits for a line with the given message and returns it.
func (p *daemonProc) waitLog(t *testing.T, message string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, l := range p.logLines(t) {
			if l["message"] == message {
				return l
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("daemon exited (code %d) before logging %q", p.exitCode, message)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q line within %v", message, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countLogs counts lines with the given message.
func (p *daemonProc) countLogs(t *testing.T, message string) int {
	n := 0
	for _, l := range p.logLines(t) {
		if l["message"] == message {
			n++
		}
	}
	return n
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// get returns the status and body of GET base+path.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// scrape reads /metrics with the reference text parser.
func (p *daemonProc) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, p.metricsURL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// sample returns the value of the series of family name whose labels are
// exactly labels ("a=x,b=y" sorted by name, "" for none); a histogram gives
// its count. A missing series fails the test.
func sample(t *testing.T, fams map[string]*dto.MetricFamily, name, labels string) float64 {
	t.Helper()
	for _, m := range fams[name].GetMetric() {
		var parts []string
		for _, lp := range m.GetLabel() {
			parts = append(parts, lp.GetName()+"="+lp.GetValue())
		}
		if strings.Join(parts, ",") != labels {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("no series %s{%s}", name, labels)
	return 0
}

// pionClient is pion/turn/v3's client on its own loopback UDP socket.
func pionClient(t *testing.T, server netip.AddrPort, user, pass string) *turn.Client {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server.String(),
		TURNServerAddr: server.String(),
		Conn:           conn,
		Username:       user,
		Password:       pass,
		Realm:          testRealm,
		RTO:            200 * time.Millisecond,
		LoggerFactory:  &pionlogging.DefaultLoggerFactory{DefaultLogLevel: pionlogging.LogLevelDisabled},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	return c
}

// echoPeer answers every datagram with the same bytes, on loopback.
func echoPeer(t *testing.T) net.Addr {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo(buf[:n], from)
		}
	}()
	return c.LocalAddr()
}

// roundTrips sends n datagrams of size bytes through relayConn to peer and
// checks each echo.
func roundTrips(t *testing.T, relayConn net.PacketConn, peer net.Addr, n, size int) {
	t.Helper()
	buf := make([]byte, 2048)
	for i := 0; i < n; i++ {
		msg := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		if _, err := relayConn.WriteTo(msg, peer); err != nil {
			t.Fatalf("round trip %d: write: %v", i, err)
		}
		relayConn.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, _, err := relayConn.ReadFrom(buf)
		if err != nil {
			t.Fatalf("round trip %d: read: %v", i, err)
		}
		if !bytes.Equal(buf[:got], msg) {
			t.Fatalf("round trip %d: echo differs", i)
		}
	}
}
