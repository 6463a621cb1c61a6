package relayext

import (
	"net/netip"
	"testing"

	"github.com/turnstile-relay/turnstile/internal/turnclient/turnclienttest"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/turnstile-relay/turnstile/internal/turnclient"
)

// netnsResources are the resources of the end-to-end scenarios. voip's
// filter does not list icmp: the real ICMP errors of its flows must reach
// the client anyway.
const netnsResources = `{"resources": [
  {"name": "voip", "domain": "sip.test.internal", "users": ["alice"],
   "filters": [{"protocol": "udp", "ports": "5060-5080"}]},
  {"name": "media", "domain": "media.test.internal", "users": ["*"]},
  {"name": "v4only", "domain": "v4only.test.internal", "users": ["alice"]},
  {"name": "lab", "cidr": "10.78.0.16/28", "users": ["alice"],
   "filters": [{"protocol": "udp", "ports": "9000"}, {"protocol": "tcp", "ports": "443"}]},
  {"name": "ssh", "domain": "ssh.test.internal", "users": ["alice"],
   "filters": [{"protocol": "tcp", "ports": "22-23"}]}
]}`

// gatewayScenarios is the namespace child's part of TestGatewayNetns: a
// relay with gateway whose relayed addresses are 10.78.0.1 and fd78::1, the
// resource hosts, and a TURN client per scenario.
func gatewayScenarios(t *testing.T) {
	res := newFakeResolver()
	res.set("sip.test.internal", gwHostA.String(), gwHostA6.String())
	res.set("media.test.internal", gwHostA.String())
	res.set("v4only.test.internal", gwHostA.String())
	srv := newTestServer(t, withRelayAddrs(gwRelay4, gwRelay6), withGateway(t, netnsResources, res))
	for _, h := range []struct {
		at  netip.AddrPort
		tag string
	}{
		{netip.AddrPortFrom(gwHostA, 5060), "A"},
		{netip.AddrPortFrom(gwHostA, 5070), "A"},
		{netip.AddrPortFrom(gwHostA6, 5060), "A6"},
		{netip.AddrPortFrom(gwHostA, 6000), "A"},
		{netip.AddrPortFrom(gwHostA, 6001), "A"},
		{netip.AddrPortFrom(gwHostB, 6000), "B"},
		{netip.AddrPortFrom(gwHostB, 6001), "B"},
		{netip.AddrPortFrom(gwLab, 9000), "L"},
	} {
		resourceHost(t, h.at, h.tag)
	}
	t.Run("sentinel, relay and back over UDP", func(t *testing.T) { roundTripScenario(t, srv, turnclient.UDP) })
	t.Run("sentinel, relay and back over TCP", func(t *testing.T) { roundTripScenario(t, srv, turnclient.TCP) })
	t.Run("ICMP errors", func(t *testing.T) { icmpScenario(t, srv) })
	t.Run("DNS change keeps live flows", func(t *testing.T) { dnsChangeScenario(t, srv, res) })
	t.Run("dual allocation, IPv6 proxy of an IPv4-only name", func(t *testing.T) { noRecordsScenario(t, srv) })
	t.Run("CIDR resource", func(t *testing.T) { cidrScenario(t, srv) })
	t.Run("existing flows allocate nothing", func(t *testing.T) { translatedAllocsScenario(t, srv) })
	t.Run("TCP resource across a re-resolution", tcpResourceScenario)
}

// gatewayClient is a client of alice with a dual allocation and a
// permission for the IPv4 sentinel.
func gatewayClient(t *testing.T, srv *testServer, transport turnclient.Transport) (*turnclient.Client, *turnclient.Allocation) {
	t.Helper()
	c := dialUser(t, srv, transport, "alice")
	a, err := c.Allocate(turnclient.AllocateOptions{AdditionalFamily: turnclient.FamilyIPv6})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Relayed) != 2 {
		t.Fatalf("relayed %v, want an IPv4 and an IPv6 address", a.Relayed)
	}
	if err := c.CreatePermission(sentinel4.Addr()); err != nil {
		t.Fatal(err)
	}
	return c, a
}

// permittedProxy asks the sentinel for name's proxy IPs of typ and returns
// proxy i with a permission installed for it.
func permittedProxy(t *testing.T, c *turnclient.Client, name string, typ dnsmessage.Type, i int) netip.Addr {
	t.Helper()
	p := proxiesOf(t, c, sentinel4, name, typ)[i]
	if err := c.CreatePermission(p); err != nil {
		t.Fatalf("CreatePermission %v: %v", p, err)
	}
	return p
}

// roundTripScenario: the client asks the sentinel for a resource, relays
// to it and gets the answer back from the proxy address — by Send
// indication and Data indication, by ChannelData both ways, and over IPv6.
func roundTripScenario(t *testing.T, srv *testServer, transport turnclient.Transport) {
	c, _ := gatewayClient(t, srv, transport)
	p4 := permittedProxy(t, c, "sip.test.internal.", dnsmessage.TypeA, 0)
	p6 := permittedProxy(t, c, "sip.test.internal.", dnsmessage.TypeAAAA, 0)

	to := netip.AddrPortFrom(p4, 5060)
	if err := c.Send(to, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	wantData(t, c, to, 0, "A:hello")

	const channel = 0x4001
	to = netip.AddrPortFrom(p4, 5070)
	if err := c.BindChannel(channel, to); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(to, []byte("on a channel")); err != nil {
		t.Fatal(err)
	}
	wantData(t, c, to, channel, "A:on a channel")

	to = netip.AddrPortFrom(p6, 5060)
	if err := c.Send(to, []byte("six")); err != nil {
		t.Fatal(err)
	}
	wantData(t, c, to, 0, "A6:six")
}

// icmpScenario: a denied port yields a synthesized 3/13; a closed allowed
// port yields the resource host's real port unreachable, translated to the
// proxy address although the filter does not list icmp; a
// fragmentation-needed error about a live flow arrives with its MTU; an
// error quoting no flow is dropped.
func icmpScenario(t *testing.T, srv *testServer) {
	c, a := gatewayClient(t, srv, turnclient.UDP)
	p4 := permittedProxy(t, c, "sip.test.internal.", dnsmessage.TypeA, 0)
	p6 := permittedProxy(t, c, "sip.test.internal.", dnsmessage.TypeAAAA, 0)
	relayed4, _ := a.RelayedFor(turnclient.FamilyIPv4)
	v4, v6 := turnclient.FamilyIPv4, turnclient.FamilyIPv6

	denied := netip.AddrPortFrom(p4, 7000)
	if err := c.Send(denied, []byte("x")); err != nil {
		t.Fatal(err)
	}
	wantICMP(t, c, turnclient.ICMPEvent{Peer: denied, Family: v4, Type: 3, Code: 13})

	for _, tc := range []struct {
		to        netip.AddrPort
		family    turnclient.Family
		typ, code uint8
	}{
		{netip.AddrPortFrom(p4, 5061), v4, 3, 3},
		{netip.AddrPortFrom(p6, 5061), v6, 1, 4},
	} {
		if err := c.Send(tc.to, []byte("anyone there?")); err != nil {
			t.Fatal(err)
		}
		wantICMP(t, c, turnclient.ICMPEvent{Peer: tc.to, Family: tc.family, Type: tc.typ, Code: tc.code})
	}

	live := netip.AddrPortFrom(p4, 5060)
	if err := c.Send(live, []byte("open")); err != nil {
		t.Fatal(err)
	}
	wantData(t, c, live, 0, "A:open")
	injectICMPv4(t, gwHostB, 3, 4, 1200, relayed4, netip.AddrPortFrom(gwHostA, 5060))
	wantICMP(t, c, turnclient.ICMPEvent{Peer: live, Family: v4, Type: 3, Code: 4, MTU: 1200})

	before := verdicts(srv, "drop", "no_flow")
	injectICMPv4(t, gwHostB, 3, 3, 0, relayed4, netip.AddrPortFrom(gwHostA, 5999))
	turnclienttest.WaitUntil(t, "the error quoting no flow to be judged", func() bool { return verdicts(srv, "drop", "no_flow") > before })
	turnclienttest.ExpectNoEvent(t, c, "an ICMP error quoting no flow")
}

// dnsChangeScenario: after the name moves to a new IP, the live flow
// (same proxy IP and port) keeps its old real IP and its replies still
// arrive, while a new port — or another proxy IP of the name — goes to the
// new IP.
func dnsChangeScenario(t *testing.T, srv *testServer, res *fakeResolver) {
	c, _ := gatewayClient(t, srv, turnclient.UDP)
	proxies := proxiesOf(t, c, sentinel4, "media.test.internal.", dnsmessage.TypeA)
	if err := c.CreatePermission(proxies...); err != nil {
		t.Fatal(err)
	}
	send := func(to netip.AddrPort, payload, wantReply string) {
		t.Helper()
		if err := c.Send(to, []byte(payload)); err != nil {
			t.Fatal(err)
		}
		wantData(t, c, to, 0, wantReply)
	}
	live := netip.AddrPortFrom(proxies[0], 6000)
	send(live, "before", "A:before")

	res.set("media.test.internal", gwHostB.String())
	if again := proxiesOf(t, c, sentinel4, "media.test.internal.", dnsmessage.TypeA); again[0] != proxies[0] {
		t.Fatalf("proxy IPs changed with the DNS answer: %v then %v", proxies, again)
	}
	send(live, "after", "A:after")
	send(netip.AddrPortFrom(proxies[0], 6001), "new port", "B:new port")
	send(netip.AddrPortFrom(proxies[1], 6000), "other proxy", "B:other proxy")
	send(live, "still", "A:still")
}

// noRecordsScenario: a dual allocation sending to the IPv6 proxy of an
// IPv4-only name gets ICMPv6 address unreachable (1/3) naming that proxy
// address and port.
func noRecordsScenario(t *testing.T, srv *testServer) {
	c, _ := gatewayClient(t, srv, turnclient.UDP)
	p6 := permittedProxy(t, c, "v4only.test.internal.", dnsmessage.TypeAAAA, 2)
	to := netip.AddrPortFrom(p6, 5004)
	if err := c.Send(to, []byte("happy eyeballs")); err != nil {
		t.Fatal(err)
	}
	wantICMP(t, c, turnclient.ICMPEvent{Peer: to, Family: turnclient.FamilyIPv6, Type: 1, Code: 3})
}

// cidrScenario: a CIDR resource in a private range is reachable without
// any peer-policy exception on its allowed port, and refused with 3/13 on
// another.
func cidrScenario(t *testing.T, srv *testServer) {
	c, _ := gatewayClient(t, srv, turnclient.UDP)
	if err := c.CreatePermission(gwLab); err != nil {
		t.Fatal(err)
	}
	to := netip.AddrPortFrom(gwLab, 9000)
	if err := c.Send(to, []byte("lab")); err != nil {
		t.Fatal(err)
	}
	wantData(t, c, to, 0, "L:lab")
	denied := netip.AddrPortFrom(gwLab, 9001)
	if err := c.Send(denied, []byte("lab")); err != nil {
		t.Fatal(err)
	}
	wantICMP(t, c, turnclient.ICMPEvent{Peer: denied, Family: turnclient.FamilyIPv4, Type: 3, Code: 13})
}
