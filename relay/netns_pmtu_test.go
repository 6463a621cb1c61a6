package relay

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/turnclient/turnclienttest"

	"github.com/turnstile-relay/turnstile/internal/turnclient"
	"github.com/turnstile-relay/turnstile/peerpolicy"
)

// The path-MTU test runs the relay behind a real router with a narrow link,
// in network namespaces it creates:
//
//	relay ns                 router ns                    peer ns
//	lo: client ⇄ relay       ip_forward, forwarding=1
//	r0 10.77.1.1/24 ── g0 10.77.1.2/24
//	   fd77:1::1/64       fd77:1::2/64
//	                         g1 10.77.2.1/24 ── p0 10.77.2.2/24     (MTU 1300)
//	                            fd77:2::1/64        fd77:2::2/64
//
// The client and the relay both live in the relay namespace and talk over
// its loopback; the relayed addresses are r0's. A datagram that fits goes
// through the router to the peer host, where no socket listens: the peer
// answers port unreachable. A 1400-byte datagram with DF set (DONT-FRAGMENT
// in the Allocate) does not fit g1: the router answers fragmentation needed
// (ICMPv4 3/4) or packet too big (ICMPv6 2/0) with MTU 1300, the relay reads
// it from the relayed socket's error queue and the client receives it as an
// ICMP event carrying the MTU (RFC 8656 §11.5, §18.13).
//
// Why a subprocess: a Go program cannot safely move itself into a network
// namespace — setns(2) changes one OS thread, and the relay's goroutines run
// on many threads — so the test re-runs its own binary under
// `ip netns exec <relay ns>`, where the whole process (relay, client,
// sockets) belongs to the namespace from its first instruction. The parent
// builds and removes the namespaces (t.Cleanup, also on failure) and
// requires the child's PASS line. Addresses are fixed because every
// namespace is private to one run; namespace names are unique per run.
const (
	pmtuChildEnv = "TURNSTILE_NETNS_PMTU_CHILD"
	pmtuFarMTU   = 1300
	pmtuPayload  = 1400
)

var (
	pmtuRelay4 = netip.MustParseAddr("10.77.1.1")
	pmtuRelay6 = netip.MustParseAddr("fd77:1::1")
	pmtuPeer4  = netip.MustParseAddr("10.77.2.2")
	pmtuPeer6  = netip.MustParseAddr("fd77:2::2")
)

// TestNetnsPathMTU: the client learns fragmentation-needed and
// packet-too-big, with the next-hop MTU, from a router on the relayed path.
// Needs root (namespaces and raw configuration) and iproute2; under CI=true
// a missing `ip` fails the test instead of skipping it.
func TestNetnsPathMTU(t *testing.T) {
	if os.Getenv(pmtuChildEnv) == "1" {
		pathMTUInsideNamespace(t)
		return
	}
	t.Parallel()
	ip := requireTool(t, "ip", "iproute2")
	if os.Geteuid() != 0 {
		t.Fatalf("creating network namespaces needs root (uid %d)", os.Geteuid())
	}
	relayNS := buildPathMTUTopology(t, ip)

	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ip, "netns", "exec", relayNS, os.Args[0],
		"-test.run=^TestNetnsPathMTU$", "-test.v", "-test.count=1", "-test.timeout=40s")
	cmd.Env = append(os.Environ(), pmtuChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestNetnsPathMTU")) {
		t.Fatalf("the test inside namespace %s failed (%v):\n%s", relayNS, err, out)
	}
	t.Logf("inside the namespace:\n%s", lastLines(out, 8))
}

// buildPathMTUTopology creates the three namespaces and their links and
// returns the relay namespace's name. Every namespace is deleted when the
// test ends, whatever its outcome.
func buildPathMTUTopology(t *testing.T, ip string) string {
	t.Helper()
	var suffix [4]byte
	rand.Read(suffix[:])
	base := fmt.Sprintf("tspmtu-%d-%s", os.Getpid(), hex.EncodeToString(suffix[:]))
	relay, router, peer := base+"-relay", base+"-router", base+"-peer"
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{relay, router, peer} {
		run("netns", "add", ns)
		t.Cleanup(func() {
			if out, err := exec.Command(ip, "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("removing namespace %s: %v\n%s", ns, err, out)
			}
		})
		// No duplicate address detection on the interfaces made next:
		// neighbour discovery waits for the link-local addresses, which
		// would stall the first IPv6 datagrams for about two seconds.
		// /proc/sys/net is per namespace; sh rather than sysctl(8), which
		// minimal images lack.
		run("netns", "exec", ns, "sh", "-c", "echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad")
	}
	mtu := fmt.Sprint(pmtuFarMTU)
	steps := [][]string{
		{"-n", relay, "link", "add", "r0", "type", "veth", "peer", "name", "g0", "netns", router},
		{"-n", router, "link", "add", "g1", "type", "veth", "peer", "name", "p0", "netns", peer},
		{"-n", router, "link", "set", "g1", "mtu", mtu},
		{"-n", peer, "link", "set", "p0", "mtu", mtu},
		{"-n", relay, "addr", "add", "10.77.1.1/24", "dev", "r0"},
		{"-n", relay, "addr", "add", "fd77:1::1/64", "dev", "r0", "nodad"},
		{"-n", router, "addr", "add", "10.77.1.2/24", "dev", "g0"},
		{"-n", router, "addr", "add", "fd77:1::2/64", "dev", "g0", "nodad"},
		{"-n", router, "addr", "add", "10.77.2.1/24", "dev", "g1"},
		{"-n", router, "addr", "add", "fd77:2::1/64", "dev", "g1", "nodad"},
		{"-n", peer, "addr", "add", "10.77.2.2/24", "dev", "p0"},
		{"-n", peer, "addr", "add", "fd77:2::2/64", "dev", "p0", "nodad"},
		{"-n", relay, "link", "set", "lo", "up"},
		{"-n", relay, "link", "set", "r0", "up"},
		{"-n", router, "link", "set", "lo", "up"},
		{"-n", router, "link", "set", "g0", "up"},
		{"-n", router, "link", "set", "g1", "up"},
		{"-n", peer, "link", "set", "lo", "up"},
		{"-n", peer, "link", "set", "p0", "up"},
		{"-n", relay, "route", "add", "default", "via", "10.77.1.2"},
		{"-n", relay, "-6", "route", "add", "default", "via", "fd77:1::2"},
		{"-n", peer, "route", "add", "default", "via", "10.77.2.1"},
		{"-n", peer, "-6", "route", "add", "default", "via", "fd77:2::1"},
		{"netns", "exec", router, "sh", "-c",
			"echo 1 > /proc/sys/net/ipv4/ip_forward && echo 1 > /proc/sys/net/ipv6/conf/all/forwarding"},
	}
	for _, s := range steps {
		run(s...)
	}
	return relay
}

// pathMTUInsideNamespace is the child's part: a relay on the relay
// namespace's loopback relaying from r0's addresses, and a client that
// expects, per family, port unreachable from the peer host and then the
// router's too-big error with the far link's MTU.
func pathMTUInsideNamespace(t *testing.T) {
	srv := newTestServer(t,
		withRelayAddrs(pmtuRelay4.String(), pmtuRelay6.String()),
		withPeersAllowed(t, netip.MustParsePrefix("10.77.0.0/16"), netip.MustParsePrefix("fd77::/16")))
	for _, tc := range []struct {
		name                  string
		family                turnclient.Family
		peer                  netip.Addr
		unreachType, unreach  uint8
		tooBigType, tooBigCde uint8
	}{
		{"IPv4", turnclient.FamilyIPv4, pmtuPeer4, 3, 3, 3, 4},
		{"IPv6", turnclient.FamilyIPv6, pmtuPeer6, 1, 4, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialTurnclient(t, srv, turnclient.UDP)
			a, err := c.Allocate(turnclient.AllocateOptions{RequestedFamily: tc.family, DontFragment: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("relayed address %v, peer %v", a.Relayed[0], tc.peer)
			if err := c.CreatePermission(tc.peer); err != nil {
				t.Fatal(err)
			}
			dst := netip.AddrPortFrom(tc.peer, 9)
			buf := make([]byte, 2048)

			if err := c.SendIndication(dst, make([]byte, 100), false); err != nil {
				t.Fatal(err)
			}
			want := turnclient.ICMPEvent{Peer: dst, Family: tc.family, Type: tc.unreachType, Code: tc.unreach}
			if ev := turnclienttest.MustEvent(t, c, buf); ev.Kind != turnclient.EventICMP || ev.ICMP != want {
				t.Fatalf("small datagram: got %v %+v, want %+v (the path to the peer host is broken)", ev.Kind, ev.ICMP, want)
			}

			if err := c.SendIndication(dst, make([]byte, pmtuPayload), false); err != nil {
				t.Fatal(err)
			}
			want = turnclient.ICMPEvent{Peer: dst, Family: tc.family, Type: tc.tooBigType, Code: tc.tooBigCde, MTU: pmtuFarMTU}
			ev := turnclienttest.MustEvent(t, c, buf)
			if ev.Kind != turnclient.EventICMP || ev.ICMP != want {
				t.Fatalf("%d-byte datagram with DF: got %v %+v, want %+v", pmtuPayload, ev.Kind, ev.ICMP, want)
			}
			t.Logf("ICMP type %d code %d, MTU %d, for %v", ev.ICMP.Type, ev.ICMP.Code, ev.ICMP.MTU, ev.ICMP.Peer)
		})
	}
}

// withPeersAllowed widens the default peer filter to prefixes (the
// namespaces' private addresses, which the default policy denies).
func withPeersAllowed(t testing.TB, prefixes ...netip.Prefix) serverOption {
	return func(c *Config) {
		f, err := peerpolicy.New(peerpolicy.Config{Allow: prefixes})
		if err != nil {
			t.Fatal(err)
		}
		p := *c.Policy.(*DefaultPolicy)
		p.Peers = f
		c.Policy = &p
	}
}
