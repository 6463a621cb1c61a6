package relay

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// requireTool finds a tool the interop tests need. Under CI=true a missing
// tool fails the test (make test installs it); elsewhere it skips with the
// command that installs it.
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found (Debian package %s; make test installs it)", name, pkg)
	}
	t.Skipf("%s not found: apt-get install %s (make test does this)", name, pkg)
	return ""
}

var lostRe = regexp.MustCompile(`Total lost packets (\d+) \(([0-9.]+)%\)`)
var sentRe = regexp.MustCompile(`Total send dropped (\d+)`)

// TestTurnutilsUclient runs coturn's turnutils_uclient against the relay in
// client-to-client mode (-y): every client allocates, permits the other's
// relayed address and sends to it through the relay. It must finish with
// zero lost packets over UDP, over TCP and with Send indications.
func TestTurnutilsUclient(t *testing.T) {
	t.Parallel()
	uclient := requireTool(t, "turnutils_uclient", "coturn")
	// coturn 4.6's uclient draws channel numbers from RFC 5766's range
	// 0x4000–0x7FFF, which RFC 8656 reserves above 0x4FFF: the relay
	// refuses those by default (see TestStrictChannelRangeRefusesUclient),
	// so this run opts in to the legacy range.
	srv := newTestServer(t, func(c *Config) { c.LegacyChannels = true })
	user, pass := restCredentials("uclient")
	cases := []struct {
		name  string
		flags []string
		port  int
	}{
		{"udp", []string{"-y"}, int(srv.udp.Port())},
		{"tcp", []string{"-y", "-t"}, int(srv.tcp.Port())},
		{"send-indications", []string{"-y", "-s"}, int(srv.udp.Port())},
		{"tls", []string{"-y", "-t", "-S"}, int(srv.tls.Port())},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // uclient spends ~5 s mostly waiting; runs overlap
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			args := append([]string{}, tc.flags...)
			args = append(args, "-u", user, "-w", pass, "-p", strconv.Itoa(tc.port),
				"-n", "50", "-m", "4", "-l", "120", "-z", "5", "127.0.0.1")
			out, err := exec.CommandContext(ctx, uclient, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("turnutils_uclient %v: %v\n%s", args, err, out)
			}
			m := lostRe.FindSubmatch(out)
			if m == nil {
				t.Fatalf("no loss summary in output:\n%s", out)
			}
			if string(m[1]) != "0" {
				t.Fatalf("lost %s packets (%s%%):\n%s", m[1], m[2], out)
			}
			if d := sentRe.FindSubmatch(out); d != nil && string(d[1]) != "0" {
				t.Fatalf("send dropped %s:\n%s", d[1], out)
			}
			t.Logf("%s", lastLines(out, 6))
		})
	}
}

// TestStrictChannelRangeRefusesUclient documents why the interop runs opt
// in: with the default, RFC 8656-strict range, uclient's ChannelBind for a
// number above 0x4FFF gets 400 and uclient gives up.
func TestStrictChannelRangeRefusesUclient(t *testing.T) {
	t.Parallel()
	uclient := requireTool(t, "turnutils_uclient", "coturn")
	srv := newTestServer(t)
	user, pass := restCredentials("uclient")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Enough clients that at least one draws a number above 0x4FFF (each
	// does so with probability 3/4).
	out, _ := exec.CommandContext(ctx, uclient, "-y", "-u", user, "-w", pass,
		"-p", strconv.Itoa(int(srv.udp.Port())), "-n", "5", "-m", "8", "-z", "5", "127.0.0.1").CombinedOutput()
	if !regexp.MustCompile(`channel bind: error 400`).Match(out) {
		t.Fatalf("expected uclient's out-of-range ChannelBind to be refused with 400:\n%s", out)
	}
}

func lastLines(b []byte, n int) string {
	lines := regexp.MustCompile("\n").Split(string(b), -1)
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := ""
	for _, l := range lines {
		out += l + "\n"
	}
	return out
}
