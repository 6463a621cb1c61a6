package relay

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
)

// Interop with coturn's turnutils_uclient. Every run is uclient in
// client-to-client mode (-y): each client allocates, permits the other's
// relayed address and sends to it through the relay. uclient starts each
// client's traffic after a random 1–6 s, so a run takes seconds while the
// machine idles; TestUclient therefore starts every run at once, each
// against its own relay, and only then checks them one by one.
//
// coturn 4.6's uclient draws channel numbers from RFC 5766's range
// 0x4000–0x7FFF, which RFC 8656 §12 reserves above 0x4FFF: the relay
// refuses those by default ("strict channel range" below), so the runs that
// relay data opt in to the legacy range.
//
// uclient -Z asks for a dual allocation with the codepoints of the draft
// that became RFC 8656 — ADDITIONAL-ADDRESS-FAMILY as 0x8032 (RFC 8656
// §18.11 assigns 0x8000), ADDRESS-ERROR-CODE as 0x8033 (0x8001) — as a
// capture of its Allocate shows:
//
//	0x0019 REQUESTED-TRANSPORT, 0x000D LIFETIME, 0x0018 EVEN-PORT (R=0),
//	0x8032 02000000, 0x8028 FINGERPRINT
//
// A strict relay ignores 0x8032 (an unknown comprehension-optional
// attribute, RFC 8489 §14), so uclient gets IPv4-only allocations; its test
// Refresh then names a random family and, for IPv6, rightly gets 443.
// Config.LegacyDualAllocation makes the relay read the draft codepoint too.

// requireTool finds a tool the interop tests need. Under CI a missing tool
// fails the test (make test installs it); elsewhere it skips with the
// command that installs it.
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if inCI() {
		t.Fatalf("%s not found (Debian package %s; make test installs it)", name, pkg)
	}
	t.Skipf("%s not found: apt-get install %s (make test does this)", name, pkg)
	return ""
}

// inCI reports whether the tests run under CI: CI set to anything but the
// empty string, as CI services set it (true, 1, yes, ...).
func inCI() bool { return os.Getenv("CI") != "" }

// uclientSummaryRe matches the line turnutils_uclient 4.6 ends a run with:
//
//	Total lost packets 0 (0.000000%), total send dropped 0 (0.000000%)
var uclientSummaryRe = regexp.MustCompile(`Total lost packets (\d+) \(([0-9.]+)%\), total send dropped (\d+) \(([0-9.]+)%\)`)

// uclientLosses reads the packets a uclient run lost and the ones it could
// not send from its summary line; ok is false without one.
func uclientLosses(out []byte) (lost, sendDropped uint64, ok bool) {
	m := uclientSummaryRe.FindSubmatch(out)
	if m == nil {
		return 0, 0, false
	}
	lost, err1 := strconv.ParseUint(string(m[1]), 10, 64)
	sendDropped, err2 := strconv.ParseUint(string(m[3]), 10, 64)
	return lost, sendDropped, err1 == nil && err2 == nil
}

// uclientRun is one turnutils_uclient run against a relay of its own.
type uclientRun struct {
	name   string
	config func(*Config)
	flags  []string // besides -y, credentials, port and server
	stream bool     // connect over TCP (-t) rather than UDP
	tls    bool     // connect over TLS (-t -S)
	// lossless requires uclient to exit 0 and report no lost or dropped
	// packet; runs that expect a refusal check their output instead.
	lossless bool
	check    func(t *testing.T, srv *testServer, out []byte)
}

func legacyChannels(c *Config) { c.LegacyChannels = true }

var uclientRuns = []uclientRun{
	// Relaying between two clients without loss over UDP, TCP and TLS
	// client transports, with channels and with Send indications.
	{name: "udp", config: legacyChannels, flags: []string{"-n", "50", "-m", "4"}, lossless: true},
	{name: "tcp", config: legacyChannels, flags: []string{"-t", "-n", "50", "-m", "4"}, stream: true, lossless: true},
	{name: "send-indications", config: legacyChannels, flags: []string{"-s", "-n", "50", "-m", "4"}, lossless: true},
	{name: "tls", config: legacyChannels, flags: []string{"-t", "-S", "-n", "50", "-m", "4"}, tls: true, lossless: true},
	// TCP relaying (RFC 6062, -T): each client allocates a relayed TCP
	// address, Connects to the other's and binds the connection it is
	// told of in a ConnectionAttempt.
	{name: "tcp-relay", config: withTCPRelay, flags: []string{"-T", "-n", "50", "-m", "4"}, stream: true, lossless: true, check: tcpRelayBound},
	{name: "tcp-relay/tls", config: withTCPRelay, flags: []string{"-T", "-S", "-n", "50", "-m", "4"}, tls: true, lossless: true, check: tcpRelayBound},
	// -x (REQUESTED-ADDRESS-FAMILY IPv6): the clients reach the relay over
	// IPv4 and every allocation is relayed on [::1] only (RFC 8656 §7.2).
	{name: "ipv6-relay/channels", config: legacyChannels, flags: []string{"-x"}, lossless: true, check: ipv6Only},
	{name: "ipv6-relay/send-indications", config: legacyChannels, flags: []string{"-x", "-s"}, lossless: true, check: ipv6Only},
	{name: "ipv6-relay/tcp-clients", config: legacyChannels, flags: []string{"-x", "-t"}, stream: true, lossless: true, check: ipv6Only},
	// With the legacy codepoint accepted, -Z gets dual allocations and
	// every Refresh naming either family succeeds.
	{name: "dual/channels", config: legacyDual, flags: []string{"-Z"}, lossless: true, check: dualStack},
	{name: "dual/send-indications", config: legacyDual, flags: []string{"-Z", "-s"}, lossless: true, check: dualStack},
	// By default -Z's draft attribute is ignored: IPv4-only allocations,
	// and a 443 uclient reports must have come from the relay (uclient
	// picks the Refresh family at random, so the run may stop early).
	{name: "draft-dual-ignored", config: legacyChannels, flags: []string{"-Z", "-n", "5"}, check: draftDualIgnored},
	// With the strict channel range, enough clients that at least one
	// draws a number above 0x4FFF (each with probability 3/4): its
	// ChannelBind gets 400 and uclient gives up.
	{name: "strict-channel-range", flags: []string{"-n", "5", "-m", "8"}, check: strictChannelRange},
}

func legacyDual(c *Config) { c.LegacyChannels, c.LegacyDualAllocation = true, true }

// TestUclient starts every uclient run at once and checks each in a subtest.
func TestUclient(t *testing.T) {
	t.Parallel()
	uclient := requireTool(t, "turnutils_uclient", "coturn")
	user, pass := restCredentials("uclient")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type started struct {
		srv  *testServer
		cmd  *exec.Cmd
		out  bytes.Buffer
		args []string
	}
	runs := make([]*started, len(uclientRuns))
	for i, r := range uclientRuns {
		var opts []serverOption
		if r.config != nil {
			opts = append(opts, r.config)
		}
		s := &started{srv: newTestServer(t, opts...)}
		port := s.srv.udp.Port()
		switch {
		case r.tls:
			port = s.srv.tls.Port()
		case r.stream:
			port = s.srv.tcp.Port()
		}
		// Defaults of the runs that do not set them: two clients of 30
		// messages, 120 bytes each, one every 5 ms.
		s.args = append([]string{"-y", "-n", "30", "-m", "2", "-l", "120", "-z", "5"}, r.flags...)
		s.args = append(s.args, "-u", user, "-w", pass, "-p", strconv.Itoa(int(port)), "127.0.0.1")
		s.cmd = exec.CommandContext(ctx, uclient, s.args...)
		s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		runs[i] = s
	}
	for i, r := range uclientRuns {
		s := runs[i]
		err := s.cmd.Wait()
		t.Run(r.name, func(t *testing.T) {
			out := s.out.Bytes()
			if r.lossless {
				requireLossless(t, s.args, err, out)
			}
			if r.check != nil {
				r.check(t, s.srv, out)
			}
			t.Logf("%s", lastLines(out, 6))
		})
	}
}

// requireLossless fails unless uclient exited 0 reporting no lost and no
// dropped packet.
func requireLossless(t *testing.T, args []string, err error, out []byte) {
	t.Helper()
	if err != nil {
		t.Fatalf("turnutils_uclient %v: %v\n%s", args, err, out)
	}
	lost, dropped, ok := uclientLosses(out)
	if !ok {
		t.Fatalf("no loss summary in output:\n%s", out)
	}
	if lost != 0 || dropped != 0 {
		t.Fatalf("lost %d packets, send dropped %d:\n%s", lost, dropped, out)
	}
}

// TestTurnutilsLossSummary reads both counts from uclient 4.6.1's summary, and
// finds no summary where there is none.
func TestTurnutilsLossSummary(t *testing.T) {
	tests := []struct {
		name              string
		out               string
		lost, sendDropped uint64
		ok                bool
	}{
		{"clean run", "0: : Total transmit time is 2\n4: : Total lost packets 0 (0.000000%), total send dropped 0 (0.000000%)\n4: : Average round trip delay 0.5 ms", 0, 0, true},
		{"losses", "4: : Total lost packets 7 (11.666667%), total send dropped 3 (5.000000%)\n", 7, 3, true},
		{"no summary", "0: : start_mclient: tot_send_bytes ~ 0\n", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lost, dropped, ok := uclientLosses([]byte(tt.out))
			if lost != tt.lost || dropped != tt.sendDropped || ok != tt.ok {
				t.Fatalf("uclientLosses = %d, %d, %v; want %d, %d, %v", lost, dropped, ok, tt.lost, tt.sendDropped, tt.ok)
			}
		})
	}
}

func ipv6Only(t *testing.T, srv *testServer, _ []byte) {
	allocs := requireAllocations(t, srv, 2)
	for _, a := range allocs {
		if a.Relayed4.IsValid() || !a.Relayed6.IsValid() || !a.Relayed6.Addr().Is6() {
			t.Fatalf("allocation relayed on %v / %v, want IPv6 only", a.Relayed4, a.Relayed6)
		}
	}
}

func dualStack(t *testing.T, srv *testServer, _ []byte) {
	allocs := requireAllocations(t, srv, 2)
	for _, a := range allocs {
		if !a.Relayed4.IsValid() || !a.Relayed6.IsValid() {
			t.Fatalf("allocation relayed on %v / %v, want both families", a.Relayed4, a.Relayed6)
		}
	}
	if n := srv.Stats().Requests["refresh"]["443"]; n != 0 {
		t.Fatalf("%d of uclient's Refresh requests were refused with 443", n)
	}
}

func draftDualIgnored(t *testing.T, srv *testServer, out []byte) {
	allocs := requireAllocations(t, srv, 1)
	for _, a := range allocs {
		if !a.Relayed4.IsValid() || a.Relayed6.IsValid() {
			t.Fatalf("allocation relayed on %v / %v, want IPv4 only", a.Relayed4, a.Relayed6)
		}
	}
	// uclient does not always read its test Refresh's answer, so a 443 it
	// reports must have come from the relay, not the other way round.
	if bytes.Contains(out, []byte("error 443")) && srv.Stats().Requests["refresh"]["443"] == 0 {
		t.Fatalf("uclient reports a 443 the relay did not send:\n%s", out)
	}
}

func strictChannelRange(t *testing.T, _ *testServer, out []byte) {
	if !bytes.Contains(out, []byte("channel bind: error 400")) {
		t.Fatalf("expected uclient's out-of-range ChannelBind to be refused with 400:\n%s", out)
	}
}

// requireAllocations returns the allocations srv created, at least min.
func requireAllocations(t *testing.T, srv *testServer, min int) []*allocation.Allocation {
	t.Helper()
	srv.events.mu.Lock()
	defer srv.events.mu.Unlock()
	var out []*allocation.Allocation
	for _, e := range srv.events.events {
		if e.Kind == EventCreated {
			out = append(out, e.Allocation)
		}
	}
	if len(out) < min {
		t.Fatalf("uclient made %d allocations, want at least %d", len(out), min)
	}
	return out
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(string(b), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintln(strings.Join(lines, "\n"))
}

// TestInCI: any non-empty CI counts as CI, not only "true".
func TestInCI(t *testing.T) {
	for value, want := range map[string]bool{"true": true, "1": true, "yes": true, "": false} {
		t.Setenv("CI", value)
		if got := inCI(); got != want {
			t.Errorf("CI=%q: inCI() = %v, want %v", value, got, want)
		}
	}
}
