package relayext

import (
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/turnclient/turnclienttest"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/turnstile-relay/turnstile/internal/turnclient"
)

// TestGatewayPermissions: CreatePermission and ChannelBind on gateway
// addresses are decided by the gateway — the sentinel, proxy IPs of
// domains the user asked for and may use, and CIDR resources the user may
// use are allowed although the default peer policy denies private
// addresses; proxy IPs never handed out and resources of other users get
// 403 — while every other address keeps the default peer policy
// (docs/gateway.md, "DNS and flows").
func TestGatewayPermissions(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, withGateway(t, loopbackResources, loopbackResolver()))
	alice := dialUser(t, srv, turnclient.UDP, "alice")
	bob := dialUser(t, srv, turnclient.UDP, "bob")
	for _, c := range []*turnclient.Client{alice, bob} {
		if _, err := c.Allocate(turnclient.AllocateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.CreatePermission(sentinel4.Addr()); err != nil {
			t.Fatalf("sentinel: %v", err)
		}
	}
	proxies := proxiesOf(t, alice, sentinel4, "sip.test.internal.", dnsmessage.TypeA)
	for i, tc := range []struct {
		name   string
		client *turnclient.Client
		peer   string
		want   int // 0 for success
	}{
		{"alice, her proxy IP", alice, proxies[0].String(), 0},
		{"alice, a proxy IP never handed out", alice, "100.96.0.1", 403},
		{"bob, alice's proxy IP", bob, proxies[0].String(), 403},
		{"alice, CIDR resource", alice, "10.9.0.5", 0},
		{"bob, alice's CIDR resource", bob, "10.9.0.5", 403},
		{"alice, private address of no resource", alice, "10.10.0.1", 403},
		{"alice, ordinary allowed peer", alice, "127.0.0.1", 0},
	} {
		ch := uint16(0x4100 + i)
		t.Run(tc.name, func(t *testing.T) {
			peer := netip.MustParseAddr(tc.peer)
			if got := turnclient.Code(tc.client.CreatePermission(peer)); got != tc.want {
				t.Fatalf("CreatePermission %v: code %d, want %d", peer, got, tc.want)
			}
			if got := turnclient.Code(tc.client.BindChannel(ch, netip.AddrPortFrom(peer, 5060))); got != tc.want {
				t.Fatalf("ChannelBind %v: code %d, want %d", peer, got, tc.want)
			}
		})
	}
	for _, v := range [][2]string{{"allow", "sentinel"}, {"allow", "proxy"}, {"allow", "direct"}, {"forbid", "unknown_proxy"}, {"forbid", "no_access"}} {
		if verdicts(srv, v[0], v[1]) == 0 {
			t.Errorf("verdict %s/%s not counted: %v", v[0], v[1], srv.Stats().ExtensionCounts)
		}
	}
	if n := srv.Stats().PeerDenials["gateway_no_access"]; n == 0 {
		t.Errorf("403 for a resource of another user not counted as a peer denial: %v", srv.Stats().PeerDenials)
	}
}

// TestGatewayRefusesWithICMP: datagrams the gateway refuses are answered
// with synthesized ICMP errors in Data indications whose peer is exactly
// the proxy address and port the client sent to (RFC 8656 §11.5,
// docs/gateway.md): a port the filter denies
// gets "administratively prohibited" (3/13, 1/1) also on a channel; a
// proxy IP whose family the name has no records of gets "net/address
// unreachable" (3/0, 1/3), e.g. a dual allocation sending to the IPv6
// proxy of an IPv4-only name. Nothing is sent to the resources.
func TestGatewayRefusesWithICMP(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, withGateway(t, loopbackResources, loopbackResolver()))
	c := dialUser(t, srv, turnclient.UDP, "alice")
	if _, err := c.Allocate(turnclient.AllocateOptions{AdditionalFamily: turnclient.FamilyIPv6}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreatePermission(sentinel4.Addr()); err != nil {
		t.Fatal(err)
	}
	sip4 := proxiesOf(t, c, sentinel4, "sip.test.internal.", dnsmessage.TypeA)[0]
	sip6 := proxiesOf(t, c, sentinel4, "sip.test.internal.", dnsmessage.TypeAAAA)[1]
	onlyA6 := proxiesOf(t, c, sentinel4, "cam.media.test.internal.", dnsmessage.TypeAAAA)[2]
	onlyAAAA4 := proxiesOf(t, c, sentinel4, "v6only.test.internal.", dnsmessage.TypeA)[3]
	lab := netip.MustParseAddr("10.9.0.5")
	if err := c.CreatePermission(sip4, sip6, onlyA6, onlyAAAA4, lab); err != nil {
		t.Fatal(err)
	}
	const channel = 0x4001
	if err := c.BindChannel(channel, netip.AddrPortFrom(sip4, 7001)); err != nil {
		t.Fatal(err)
	}
	v4, v6 := turnclient.FamilyIPv4, turnclient.FamilyIPv6
	for _, tc := range []struct {
		name       string
		peer       netip.AddrPort
		typ, code  uint8
		wantFamily turnclient.Family
	}{
		{"filter denies the port (IPv4)", netip.AddrPortFrom(sip4, 7000), 3, 13, v4},
		{"filter denies the port on a channel", netip.AddrPortFrom(sip4, 7001), 3, 13, v4},
		{"filter denies the port (IPv6)", netip.AddrPortFrom(sip6, 7000), 1, 1, v6},
		{"IPv6 proxy of an IPv4-only name", netip.AddrPortFrom(onlyA6, 5004), 1, 3, v6},
		{"IPv4 proxy of an IPv6-only name", netip.AddrPortFrom(onlyAAAA4, 5004), 3, 0, v4},
		{"CIDR resource, filter denies the port", netip.AddrPortFrom(lab, 9001), 3, 13, v4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.Send(tc.peer, []byte("refused")); err != nil {
				t.Fatal(err)
			}
			wantICMP(t, c, turnclient.ICMPEvent{Peer: tc.peer, Family: tc.wantFamily, Type: tc.typ, Code: tc.code})
		})
	}
	for _, v := range [][2]string{{"refuse", "filter_denied"}, {"refuse", "no_records"}} {
		if verdicts(srv, v[0], v[1]) == 0 {
			t.Errorf("verdict %s/%s not counted: %v", v[0], v[1], srv.Stats().ExtensionCounts)
		}
	}
}

// TestGatewayRefusalsAreRateLimited: an allocation sending a burst to a
// denied port gets at most the gateway's ICMP burst of refusals; the rest
// are dropped and counted (docs/gateway.md, TURNSTILE_GATEWAY_ICMP_RATE:
// generated errors are rate-limited per allocation).
func TestGatewayRefusalsAreRateLimited(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, withGateway(t, loopbackResources, loopbackResolver()))
	burst := srv.core.Config().ICMPBurst
	c := dialUser(t, srv, turnclient.UDP, "alice")
	if _, err := c.Allocate(turnclient.AllocateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreatePermission(sentinel4.Addr()); err != nil {
		t.Fatal(err)
	}
	proxy := proxiesOf(t, c, sentinel4, "sip.test.internal.", dnsmessage.TypeA)[0]
	if err := c.CreatePermission(proxy); err != nil {
		t.Fatal(err)
	}
	sent := 3 * burst
	start := time.Now()
	for range sent {
		if err := c.Send(netip.AddrPortFrom(proxy, 7000), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	turnclienttest.WaitUntil(t, "every datagram to be judged", func() bool {
		return verdicts(srv, "refuse", "filter_denied")+verdicts(srv, "drop", "icmp_rate_limited") == uint64(sent)
	})
	refused := verdicts(srv, "refuse", "filter_denied")
	// The bucket refills at ICMPRate per second while the burst is sent.
	refill := uint64(time.Since(start).Seconds()*float64(srv.core.Config().ICMPRate)) + 1
	if refused < uint64(burst) || refused > uint64(burst)+refill {
		t.Fatalf("%d of %d datagrams refused with ICMP, want the burst of %d (plus refill)", refused, sent, burst)
	}
	for range refused {
		ev := turnclienttest.MustEvent(t, c, make([]byte, 2048))
		if ev.Kind != turnclient.EventICMP {
			t.Fatalf("got %v, want ICMP", ev.Kind)
		}
	}
	turnclienttest.ExpectNoEvent(t, c, "refusals beyond the rate limit")
}
