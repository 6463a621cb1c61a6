package relay

import (
	"context"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
)

// runUclient runs turnutils_uclient in client-to-client mode (-y: every
// client allocates, permits the other client's relayed address and sends to
// it through the relay) with two clients of 30 messages each, and requires
// it to finish with zero lost and zero dropped packets. It returns the
// output.
func runUclient(t *testing.T, uclient string, port uint16, flags ...string) []byte {
	t.Helper()
	user, pass := restCredentials("uclient")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"-y"}, flags...)
	args = append(args, "-u", user, "-w", pass, "-p", strconv.Itoa(int(port)),
		"-n", "30", "-m", "2", "-l", "120", "-z", "5", "127.0.0.1")
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
	return out
}

// createdAllocations returns the allocations srv created so far.
func createdAllocations(srv *testServer) []*allocation.Allocation {
	srv.events.mu.Lock()
	defer srv.events.mu.Unlock()
	var out []*allocation.Allocation
	for _, e := range srv.events.events {
		if e.Kind == EventCreated {
			out = append(out, e.Allocation)
		}
	}
	return out
}

// TestUclientIPv6Relay runs coturn's turnutils_uclient with -x
// (REQUESTED-ADDRESS-FAMILY IPv6): the clients reach the relay over IPv4,
// every allocation has only an IPv6 relayed address ([::1]), and all
// traffic between the two clients crosses IPv6 relayed addresses — over
// channels, with Send indications (-s) and from TCP clients (-t). Each run
// must lose nothing. As in TestTurnutilsUclient, uclient draws channel
// numbers from RFC 5766's range, so the relay opts in to it.
func TestUclientIPv6Relay(t *testing.T) {
	uclient := requireTool(t, "turnutils_uclient", "coturn")
	t.Parallel()
	for _, tc := range []struct {
		name  string
		flags []string
		tcp   bool
	}{
		{"channels", []string{"-x"}, false},
		{"Send indications", []string{"-x", "-s"}, false},
		{"TCP clients", []string{"-x", "-t"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newTestServer(t, func(c *Config) { c.LegacyChannels = true })
			port := srv.udp.Port()
			if tc.tcp {
				port = srv.tcp.Port()
			}
			runUclient(t, uclient, port, tc.flags...)
			allocs := createdAllocations(srv)
			if len(allocs) < 2 {
				t.Fatalf("uclient made %d allocations, want at least 2", len(allocs))
			}
			for _, a := range allocs {
				if a.Relayed4.IsValid() || !a.Relayed6.IsValid() || !a.Relayed6.Addr().Is6() {
					t.Fatalf("allocation relayed on %v / %v, want IPv6 only", a.Relayed4, a.Relayed6)
				}
			}
		})
	}
}
