package netnslab

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requireRootAndIP skips locally and fails under CI (CI set) when the
// namespaces cannot be made (docs/testing.md).
func requireRootAndIP(t *testing.T) string {
	t.Helper()
	ip, err := exec.LookPath("ip")
	if err == nil && os.Geteuid() != 0 {
		err = os.ErrPermission
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the namespaces need ip(8) and root under CI: %v", err)
		}
		t.Skipf("the namespaces need ip(8) and root: %v", err)
	}
	return ip
}

func namespaceExists(name string) bool {
	_, err := os.Stat(filepath.Join("/run/netns", name))
	return err == nil
}

// TestClientReachesPeerThroughRouter: a datagram from the client's
// namespace reaches the peer's through the router, IPv4 and IPv6, and
// Close leaves no namespace behind.
func TestClientReachesPeerThroughRouter(t *testing.T) {
	world, err := Build(requireRootAndIP(t), "tsnl")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{world.Client, world.Router, world.Relay, world.Peer}
	defer world.Close()
	for _, peerIP := range []string{PeerIPv4, PeerIPv6} {
		var peer, client *net.UDPConn
		if err := InNamespace(world.Peer, func() (err error) {
			peer, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(peerIP), 0)))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		if err := InNamespace(world.Client, func() (err error) {
			client, err = net.ListenUDP("udp", nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		if _, err := client.WriteToUDPAddrPort([]byte("through the router"), peer.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
			t.Fatal(err)
		}
		peer.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 64)
		n, from, err := peer.ReadFromUDPAddrPort(buf)
		if err != nil || string(buf[:n]) != "through the router" {
			t.Fatalf("%s: peer read %q, %v", peerIP, buf[:n], err)
		}
		// The router forwards without address translation: the peer sees
		// the client's own address.
		if want := map[string]string{PeerIPv4: ClientIPv4, PeerIPv6: ClientIPv6}[peerIP]; from.Addr().Unmap().String() != want {
			t.Fatalf("%s: datagram from %v, want the client's %s", peerIP, from, want)
		}
	}
	if err := world.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ns := range names {
		if namespaceExists(ns) {
			t.Errorf("namespace %s left after Close", ns)
		}
	}
}

// TestFailedBuildRemovesWhatItMade: an ip(8) that fails once routes are
// being added leaves Build with an error and no namespace behind.
func TestFailedBuildRemovesWhatItMade(t *testing.T) {
	ip := requireRootAndIP(t)
	wrapper := filepath.Join(t.TempDir(), "ip")
	script := "#!/bin/sh\nfor a in \"$@\"; do [ \"$a\" = route ] && { echo refused >&2; exit 1; }; done\nexec " + ip + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	prefix := "tsnlfail"
	world, err := Build(wrapper, prefix)
	if err == nil {
		world.Close()
		t.Fatal("Build succeeded with an ip(8) that refuses routes")
	}
	if !strings.Contains(err.Error(), "route") {
		t.Errorf("error %v does not name the failing step", err)
	}
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix+"-") && strings.Contains(e.Name(), "-"+strconv.Itoa(os.Getpid())+"-") {
			t.Errorf("namespace %s left after a failed Build", e.Name())
		}
	}
}
