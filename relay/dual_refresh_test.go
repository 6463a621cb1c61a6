package relay

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/turnclient/turnclienttest"

	"github.com/turnstile-relay/turnstile/internal/turnclient"
)

// TestDualAllocationRefreshPerFamily follows RFC 8656 §8.1 and §8.2 through
// the life of a dual allocation (docs/protocol.md, "Dual allocations and
// Refresh"):
//
//   - a Refresh naming one family succeeds and never shortens the other
//     (the table keeps one expiry per allocation, see refresh.go);
//   - LIFETIME 0 naming IPv6 deletes only the IPv6 relayed address: its
//     port is freed and nothing reaches IPv6 peers any more, while the
//     IPv4 permission and channel keep relaying both ways ("MUST NOT affect
//     any permissions or channels associated with allocations for the other
//     address family");
//   - the deleted family can no longer be named (443), a Refresh without a
//     family refreshes what is left, one naming the last family is exact;
//   - LIFETIME 0 naming the last family deletes the allocation (437 after).
func TestDualAllocationRefreshPerFamily(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := dialTurnclient(t, srv, turnclient.UDP)
	a, err := c.Allocate(turnclient.AllocateOptions{AdditionalFamily: turnclient.FamilyIPv6})
	if err != nil {
		t.Fatal(err)
	}
	relayed4, relayed6 := a.Relayed[0], a.Relayed[1]
	p4, p6 := newUDPPeer(t, "udp4"), newUDPPeer(t, "udp6")
	if err := c.BindChannel(0x4001, p4.addr()); err != nil {
		t.Fatal(err)
	}
	if err := c.BindChannel(0x4002, p6.addr()); err != nil {
		t.Fatal(err)
	}
	const v4, v6 = turnclient.FamilyIPv4, turnclient.FamilyIPv6

	refresh := func(lifetime time.Duration, f turnclient.Family) time.Duration {
		t.Helper()
		got, err := c.Refresh(lifetime, f)
		if err != nil {
			t.Fatalf("Refresh(%v, %v): %v", lifetime, f, err)
		}
		return got
	}
	if got := refresh(1200*time.Second, v6); got != 1200*time.Second {
		t.Fatalf("IPv6 refresh granted %v, want 1200 s", got)
	}
	if got := refresh(600*time.Second, v4); got < 1190*time.Second {
		t.Fatalf("IPv4 refresh granted %v: it shortened the IPv6 half's 1200 s", got)
	}

	if got := refresh(0, v6); got != 0 {
		t.Fatalf("deleting IPv6 returned LIFETIME %v", got)
	}
	turnclienttest.WaitUntil(t, "the IPv6 relayed port to be released", func() bool { return udpPortFree(relayed6) })
	buf := make([]byte, 2048)
	if err := c.Send(p6.addr(), []byte("to the deleted family")); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(p4.addr(), []byte("still there")); err != nil {
		t.Fatal(err)
	}
	if got, from, ok := p4.recv(3 * time.Second); !ok || string(got) != "still there" || from != relayed4 {
		t.Fatalf("IPv4 peer got %q from %v (ok=%v) after the IPv6 half was deleted", got, from, ok)
	}
	if got, _, ok := p6.recv(100 * time.Millisecond); ok {
		t.Fatalf("IPv6 peer received %q through a deleted relayed address", got)
	}
	p4.sendTo([]byte("reply"), relayed4)
	if ev := turnclienttest.MustEvent(t, c, buf); ev.Kind != turnclient.EventData || ev.Data.Channel != 0x4001 || string(ev.Data.Payload) != "reply" {
		t.Fatalf("client got %v %+v, want the reply on channel 0x4001", ev.Kind, ev.Data)
	}

	for _, lifetime := range []time.Duration{600 * time.Second, 0} {
		if _, err := c.Refresh(lifetime, v6); turnclient.Code(err) != 443 {
			t.Fatalf("Refresh(%v) naming the deleted family: %v, want 443", lifetime, err)
		}
	}
	// RFC 8656 §10.2, §12.2: the allocation holds no IPv6 relayed address
	// any more, so IPv6 peers are a family mismatch.
	if err := c.CreatePermission(p6.addr().Addr()); turnclient.Code(err) != 443 {
		t.Fatalf("CreatePermission for an IPv6 peer after the IPv6 half was deleted: %v, want 443", err)
	}
	if err := c.BindChannel(0x4003, netip.AddrPortFrom(p6.addr().Addr(), p6.addr().Port()+1)); turnclient.Code(err) != 443 {
		t.Fatalf("ChannelBind to an IPv6 peer after the IPv6 half was deleted: %v, want 443", err)
	}
	if got := refresh(1800*time.Second, 0); got != 1800*time.Second {
		t.Fatalf("refresh without a family granted %v", got)
	}
	if got := refresh(600*time.Second, v4); got != 600*time.Second {
		t.Fatalf("refresh naming the last family granted %v, want exactly 600 s", got)
	}
	if got := refresh(0, v4); got != 0 {
		t.Fatalf("deleting the last family returned LIFETIME %v", got)
	}
	if _, err := c.Refresh(600*time.Second, 0); turnclient.Code(err) != 437 {
		t.Fatalf("refresh after deleting both families: %v, want 437", err)
	}
	turnclienttest.WaitUntil(t, "the IPv4 relayed port to be released", func() bool { return udpPortFree(relayed4) })
}

// TestDualAllocationDeleteIPv4Half: deleting the IPv4 half leaves the IPv6
// half relaying, symmetrically.
func TestDualAllocationDeleteIPv4Half(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	c := dialTurnclient(t, srv, turnclient.TCP)
	a, err := c.Allocate(turnclient.AllocateOptions{AdditionalFamily: turnclient.FamilyIPv6})
	if err != nil {
		t.Fatal(err)
	}
	p6 := newUDPPeer(t, "udp6")
	if err := c.CreatePermission(p6.addr().Addr()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Refresh(0, turnclient.FamilyIPv4); err != nil {
		t.Fatal(err)
	}
	turnclienttest.WaitUntil(t, "the IPv4 relayed port to be released", func() bool { return udpPortFree(a.Relayed[0]) })
	p6.sendTo([]byte("from v6"), a.Relayed[1])
	if ev := turnclienttest.MustEvent(t, c, make([]byte, 100)); ev.Kind != turnclient.EventData || ev.Data.Peer != p6.addr() {
		t.Fatalf("client got %v %+v, want data from %v", ev.Kind, ev.Data, p6.addr())
	}
	if _, err := c.Refresh(600*time.Second, turnclient.FamilyIPv4); turnclient.Code(err) != 443 {
		t.Fatalf("naming the deleted IPv4 family: %v, want 443", err)
	}
}

// udpPortFree reports whether ap can be bound, i.e. no relayed socket holds
// it any more.
func udpPortFree(ap netip.AddrPort) bool {
	c, err := net.ListenUDP(udpNetworkOf(ap), net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return false
	}
	c.Close()
	return true
}
