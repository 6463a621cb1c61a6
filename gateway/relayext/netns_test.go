package relayext

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The gateway's end-to-end tests send to resource hosts on their own
// addresses. The gateway never maps a name to loopback (127.0.0.0/8 and ::1
// are addresses "a relay never reaches", gateway/resources.go), so the
// hosts live in a network namespace the test creates, on addresses of its
// loopback interface:
//
//	lo: 127.0.0.1, ::1        client ⇄ relay (the TURN listeners)
//	    10.78.0.1, fd78::1    the relay's relayed addresses
//	    10.78.0.2, fd78::2    resource host A
//	    10.78.0.3             resource host B (the name's new IP after a DNS change)
//	    10.78.0.17            a host of the CIDR resource 10.78.0.16/28
//
// Every address is local, so datagrams to a closed port draw the kernel's
// real ICMP port unreachable. As in the path-MTU test (netns_pmtu_test.go),
// the test binary re-runs itself under `ip netns exec`, so that the relay,
// the client and the hosts all belong to the namespace from the start; the
// parent creates and removes the namespace and requires the child's PASS
// line. The benchmarks of the translated path re-run themselves the same
// way and report the child's numbers.
const gatewayNetnsChildEnv = "TURNSTILE_GATEWAY_NETNS_CHILD"

var (
	gwRelay4 = netip.MustParseAddr("10.78.0.1")
	gwRelay6 = netip.MustParseAddr("fd78::1")
	gwHostA  = netip.MustParseAddr("10.78.0.2")
	gwHostA6 = netip.MustParseAddr("fd78::2")
	gwHostB  = netip.MustParseAddr("10.78.0.3")
	gwLab    = netip.MustParseAddr("10.78.0.17")
)

// inGatewayNamespace reports whether this process is the re-run child.
func inGatewayNamespace() bool { return os.Getenv(gatewayNetnsChildEnv) == "1" }

// runInGatewayNamespace builds the namespace (removed when tb ends) and runs
// this test binary inside it with args, returning its combined output.
// Needs root and iproute2: without them the test fails, it does not skip.
func runInGatewayNamespace(tb testing.TB, timeout time.Duration, args ...string) ([]byte, error) {
	tb.Helper()
	ip, err := exec.LookPath("ip")
	if err != nil {
		tb.Fatalf("the gateway namespace tests need ip (Debian package iproute2): %v", err)
	}
	if os.Geteuid() != 0 {
		tb.Fatalf("creating network namespaces needs root (uid %d)", os.Geteuid())
	}
	ns := buildGatewayNamespace(tb, ip)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, ip, append([]string{"netns", "exec", ns, os.Args[0]}, args...)...)
	cmd.Env = append(os.Environ(), gatewayNetnsChildEnv+"=1")
	return cmd.CombinedOutput()
}

// buildGatewayNamespace creates the namespace with its loopback addresses
// and returns its name, unique per run.
func buildGatewayNamespace(tb testing.TB, ip string) string {
	tb.Helper()
	var suffix [4]byte
	rand.Read(suffix[:])
	ns := fmt.Sprintf("tsgw-%d-%s", os.Getpid(), hex.EncodeToString(suffix[:]))
	run := func(args ...string) {
		tb.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			tb.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", ns)
	tb.Cleanup(func() {
		if out, err := exec.Command(ip, "netns", "del", ns).CombinedOutput(); err != nil {
			tb.Errorf("removing namespace %s: %v\n%s", ns, err, out)
		}
	})
	run("-n", ns, "link", "set", "lo", "up")
	for _, a := range []netip.Addr{gwRelay4, gwHostA, gwHostB, gwLab} {
		run("-n", ns, "addr", "add", a.String()+"/32", "dev", "lo")
	}
	for _, a := range []netip.Addr{gwRelay6, gwHostA6} {
		run("-n", ns, "addr", "add", a.String()+"/128", "dev", "lo", "nodad")
	}
	return ns
}

// TestGatewayNetns runs the end-to-end scenarios (gateway_e2e_test.go) in
// the namespace.
func TestGatewayNetns(t *testing.T) {
	if inGatewayNamespace() {
		gatewayScenarios(t)
		return
	}
	t.Parallel()
	out, err := runInGatewayNamespace(t, 50*time.Second,
		"-test.run=^TestGatewayNetns$", "-test.v", "-test.count=1", "-test.timeout=45s")
	if err != nil || !bytes.Contains(out, []byte("--- PASS: TestGatewayNetns")) {
		t.Fatalf("the test inside the namespace failed (%v):\n%s", err, out)
	}
	t.Logf("inside the namespace:\n%s", passLines(out))
}

// passLines keeps the child's subtest result lines.
func passLines(out []byte) string {
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "--- ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// resourceHost is a UDP service on a resource host: it answers every
// datagram with tag + ":" + the datagram, so the client sees which host
// (and which real IP) answered.
func resourceHost(t testing.TB, at netip.AddrPort, tag string) {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(at))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			c.WriteToUDPAddrPort(append([]byte(tag+":"), buf[:n]...), from)
		}
	}()
}
