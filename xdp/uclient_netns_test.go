package xdp

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/relay"
)

// requireTool finds a program the end-to-end test runs; a missing one
// skips locally and fails under CI (scripts/deps.sh installs coturn).
func requireTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if inCI() {
			t.Fatalf("%s not found under CI (Debian package %s; scripts/deps.sh installs it)", name, pkg)
		}
		t.Skipf("%s not found: apt-get install %s", name, pkg)
	}
	return p
}

// uclientSummary matches the line turnutils_uclient 4.6 ends a run with:
//
//	Total lost packets 0 (0.000000%), total send dropped 0 (0.000000%)
var uclientSummary = regexp.MustCompile(`Total lost packets (\d+) \([0-9.]+%\), total send dropped (\d+) \([0-9.]+%\)`)

// uclientThroughTheKernel: coturn's turnutils_uclient in the client's
// namespace sends to turnutils_peer, a real peer in the peer's namespace
// that echoes (uclient's -y would make the peer another allocation of this
// relay, a hairpin the program passes). Its channel numbers come from RFC
// 5766's range, up to 0x7FFF: they reach the kernel path only because the
// program's range follows TURNSTILE_LEGACY_CHANNELS. Every message and
// every echo is relayed by the kernel, none lost, IPv4 and IPv6 (-x asks
// for an IPv6 relayed address, the peer's family).
func uclientThroughTheKernel(t *testing.T, srv *relay.Server, clientNS, peerNS string) {
	uclient := requireTool(t, "turnutils_uclient", "coturn")
	peerTool := requireTool(t, "turnutils_peer", "coturn")
	ip := requireIP(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	var peerOut bytes.Buffer
	peer := exec.CommandContext(ctx, ip, "netns", "exec", peerNS, peerTool,
		"-L", "10.0.3.2", "-L", "fd00:3::2", "-p", "3480")
	peer.Stdout, peer.Stderr = &peerOut, &peerOut
	if err := peer.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		peer.Process.Kill()
		peer.Wait()
	}()

	const messages, clients = 40, 3
	for _, fam := range []struct {
		name, server, peer string
		flags              []string
	}{
		{"IPv4", "10.0.2.2", "10.0.3.2", nil},
		{"IPv6", "fd00:2::2", "fd00:3::2", []string{"-x"}},
	} {
		t.Run(fam.name, func(t *testing.T) {
			// -c: no RTCP allocations (turnutils_peer listens on one port);
			// 120-byte messages, one every 5 ms per client.
			args := append([]string{"netns", "exec", clientNS, uclient,
				"-c", "-n", strconv.Itoa(messages), "-m", strconv.Itoa(clients), "-l", "120", "-z", "5",
				"-u", "alice", "-w", "secret-password", "-e", fam.peer, "-r", "3480"}, fam.flags...)
			args = append(args, fam.server)
			before := srv.Stats()
			out, err := exec.CommandContext(ctx, ip, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("turnutils_uclient %v: %v\n%s\npeer:\n%s", args[3:], err, out, peerOut.Bytes())
			}
			m := uclientSummary.FindSubmatch(out)
			if m == nil {
				t.Fatalf("no loss summary from turnutils_uclient:\n%s", out)
			}
			if string(m[1]) != "0" || string(m[2]) != "0" {
				t.Fatalf("turnutils_uclient lost %s and could not send %s:\n%s", m[1], m[2], out)
			}
			after := srv.Stats()
			toPeer := after.OffloadedPackets["to_peer"]["udp"] - before.OffloadedPackets["to_peer"]["udp"]
			toClient := after.OffloadedPackets["to_client"]["udp"] - before.OffloadedPackets["to_client"]["udp"]
			if toPeer != messages*clients || toClient != messages*clients {
				t.Fatalf("the kernel relayed %d of uclient's messages to the peer and %d echoes back, want %d each; passed %v\n%s",
					toPeer, toClient, messages*clients, after.ObserverCounts["passed"], out)
			}
			t.Logf("%d messages each way relayed by the kernel; uclient: %s", toPeer, m[0])
		})
	}
}
