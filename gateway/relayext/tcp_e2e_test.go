package relayext

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/turnstile-relay/turnstile/internal/mono/monotest"
	"github.com/turnstile-relay/turnstile/internal/turnclient"
	"github.com/turnstile-relay/turnstile/relay"
)

// withTCPRelay turns on RFC 6062 TCP relaying with its default limits.
func withTCPRelay(c *relay.Config) { c.TCPRelay.Enabled = true }

// tcpResourceHost is a line service on a resource host: every line it reads
// comes back as tag + ":" + the line, so the client sees which real IP its
// connection reached.
func tcpResourceHost(t *testing.T, at netip.AddrPort, tag string) {
	t.Helper()
	l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(at))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(tag + ":" + line)); err != nil {
						return
					}
				}
			}()
		}
	}()
}

// exchangeLine writes line on conn and requires want back.
func exchangeLine(t *testing.T, conn *turnclient.DataConn, r *bufio.Reader, line, want string) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(line + "\n")); err != nil {
		t.Fatalf("writing %q: %v", line, err)
	}
	got, err := r.ReadString('\n')
	if err != nil || got != want+"\n" {
		t.Fatalf("sent %q, got %q (%v), want %q", line, got, err, want)
	}
}

// connectCode returns the error code of a Connect to peer (0 on success).
func connectCode(t *testing.T, c *turnclient.Client, peer netip.AddrPort) int {
	t.Helper()
	_, err := c.Connect(peer)
	var e *turnclient.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &e):
		return e.Code
	}
	t.Fatalf("Connect %s: %v", peer, err)
	return 0
}

// tcpResourceScenario: an SSH-style TCP resource through a TCP allocation
// (RFC 6062). The client learns proxy IPs from the sentinel over its
// control connection, connects to a proxy IP:22 and keeps exchanging lines
// with host A while the injected clock runs through eight scripted
// minutes (the allocation refreshed, the permission of the proxy lapsing)
// and the name moves to host B: the open connection stays on A, a new
// connection reaches B. A port the resource's tcp filter does not list is
// 403, a listed port where nothing listens 447, a CIDR resource's tcp port
// is reached directly.
func tcpResourceScenario(t *testing.T) {
	clock := monotest.New(time.Now())
	res := newFakeResolver()
	res.set("ssh.test.internal", gwHostA.String())
	srv := newTestServer(t, withRelayAddrs(gwRelay4, gwRelay6), withGateway(t, netnsResources, res), withClock(clock), withTCPRelay)
	tcpResourceHost(t, netip.AddrPortFrom(gwHostA, 22), "A")
	tcpResourceHost(t, netip.AddrPortFrom(gwHostB, 22), "B")
	tcpResourceHost(t, netip.AddrPortFrom(gwLab, 443), "L")

	c := dialUser(t, srv, turnclient.TCP, "alice")
	if _, err := c.Allocate(turnclient.AllocateOptions{TCP: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreatePermission(sentinel4.Addr()); err != nil {
		t.Fatal(err)
	}
	proxies := proxiesOf(t, c, sentinel4, "ssh.test.internal.", dnsmessage.TypeA)
	bind := func(peer netip.AddrPort) (*turnclient.DataConn, *bufio.Reader) {
		t.Helper()
		id, err := c.Connect(peer)
		if err != nil {
			t.Fatalf("Connect %s: %v", peer, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		dc, err := c.BindConnection(ctx, id)
		if err != nil {
			t.Fatalf("ConnectionBind for %s: %v", peer, err)
		}
		t.Cleanup(func() { dc.Close() })
		return dc, bufio.NewReader(dc)
	}
	ssh := netip.AddrPortFrom(proxies[0], 22)
	old, oldR := bind(ssh)
	exchange := func(conn *turnclient.DataConn, r *bufio.Reader, line, want string) {
		t.Helper()
		exchangeLine(t, conn, r, line, want)
	}
	exchange(old, oldR, "minute 0", "A:minute 0")

	for minute := 1; minute <= 8; minute++ {
		clock.Advance(time.Minute)
		if _, err := c.Refresh(10*time.Minute, 0); err != nil {
			t.Fatalf("Refresh at minute %d: %v", minute, err)
		}
		if minute == 3 {
			// The name moves; the sentinel's next answer re-resolves it
			// (TTL 1 s) to the same proxy IPs.
			res.set("ssh.test.internal", gwHostB.String())
			if err := c.CreatePermission(sentinel4.Addr()); err != nil {
				t.Fatal(err)
			}
			if again := proxiesOf(t, c, sentinel4, "ssh.test.internal.", dnsmessage.TypeA); again[0] != proxies[0] {
				t.Fatalf("proxy IPs changed with the DNS answer: %v then %v", proxies, again)
			}
		}
		line := "minute " + string(rune('0'+minute))
		exchange(old, oldR, line, "A:"+line)
	}

	// One connection per peer address (RFC 6062 §5.2): the new one goes to
	// another proxy IP of the name, and reaches the new IP.
	fresh, freshR := bind(netip.AddrPortFrom(proxies[1], 22))
	exchange(fresh, freshR, "new", "B:new")
	exchange(old, oldR, "still", "A:still")

	if code := connectCode(t, c, netip.AddrPortFrom(proxies[2], 80)); code != 403 {
		t.Fatalf("Connect to a port the tcp filter does not list: %d, want 403", code)
	}
	if code := connectCode(t, c, netip.AddrPortFrom(proxies[2], 23)); code != 447 {
		t.Fatalf("Connect to a listed port nothing listens on: %d, want 447", code)
	}
	lab, labR := bind(netip.AddrPortFrom(gwLab, 443))
	exchange(lab, labR, "cidr", "L:cidr")
	if code := connectCode(t, c, netip.AddrPortFrom(gwLab, 22)); code != 403 {
		t.Fatalf("Connect to a CIDR resource's unlisted port: %d, want 403", code)
	}
}
