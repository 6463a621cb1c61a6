package relayext

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/turnclient/turnclienttest"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/turnstile-relay/turnstile/gateway"
	"github.com/turnstile-relay/turnstile/internal/turnclient"
)

// The resources of the tests that run on the host's loopback. Their real
// IPs are documentation addresses (RFC 5737, RFC 3849) that these tests
// never send to: they check DNS answers, permissions and the refusals the
// gateway synthesizes, none of which reaches a resource. Traffic to real
// resource hosts runs in a network namespace (gateway_netns_test.go).
const loopbackResources = `{"resources": [
  {"name": "voip", "domain": "sip.test.internal", "users": ["alice"],
   "filters": [{"protocol": "udp", "ports": "5060-5080"}]},
  {"name": "media", "domain": "*.media.test.internal", "users": ["*"]},
  {"name": "v6only", "domain": "v6only.test.internal", "users": ["alice"]},
  {"name": "lab", "cidr": "10.9.0.0/24", "users": ["alice"],
   "filters": [{"protocol": "udp", "ports": "9000"}]}
]}`

var (
	proxyRange4 = netip.MustParsePrefix("100.96.0.0/11")
	proxyRange6 = netip.MustParsePrefix("fd00:2021:1111:8000::/107")
)

func loopbackResolver() *fakeResolver {
	r := newFakeResolver()
	r.set("sip.test.internal", "192.0.2.10", "2001:db8::10")
	r.set("cam.media.test.internal", "192.0.2.20")
	r.set("v6only.test.internal", "2001:db8::30")
	return r
}

// requireProxies checks a NOERROR answer of ProxiesPerFamily addresses in
// prefix with TTL AnswerTTL.
func requireProxies(t testing.TB, a dnsAnswer, prefix netip.Prefix) {
	t.Helper()
	if a.rcode != dnsmessage.RCodeSuccess || len(a.addrs) != gateway.ProxiesPerFamily {
		t.Fatalf("rcode %v with %d addresses, want NOERROR with %d", a.rcode, len(a.addrs), gateway.ProxiesPerFamily)
	}
	for i, p := range a.addrs {
		if !prefix.Contains(p) || a.ttls[i] != gateway.AnswerTTL {
			t.Fatalf("answer %v TTL %d: want addresses in %v, TTL %d", p, a.ttls[i], prefix, gateway.AnswerTTL)
		}
	}
}

// TestGatewaySentinelAnswers: DNS queries a client sends to the sentinel
// through its allocation — as Send indications, or ChannelData on a channel
// bound to the sentinel over UDP and TCP — are answered as data from the
// sentinel on the same path: proxy IPs of both families for resources,
// stable per allocation, REFUSED for other names, NOERROR without records
// for other types, nothing for malformed queries (docs/gateway.md, "DNS and flows").
func TestGatewaySentinelAnswers(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, withGateway(t, loopbackResources, loopbackResolver()))
	for _, tc := range []struct {
		name      string
		transport turnclient.Transport
		channel   uint16
	}{
		{"UDP Send indications", turnclient.UDP, 0},
		{"UDP ChannelData", turnclient.UDP, 0x4001},
		{"TCP ChannelData", turnclient.TCP, 0x4002},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialUser(t, srv, tc.transport, "alice")
			if _, err := c.Allocate(turnclient.AllocateOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := c.CreatePermission(sentinel4.Addr()); err != nil {
				t.Fatalf("CreatePermission for the sentinel: %v", err)
			}
			if tc.channel != 0 {
				if err := c.BindChannel(tc.channel, sentinel4); err != nil {
					t.Fatalf("ChannelBind to the sentinel: %v", err)
				}
			}
			ask := func(id uint16, name string, typ dnsmessage.Type) dnsAnswer {
				return askSentinel(t, c, sentinel4, tc.channel, id, name, typ)
			}
			a4 := ask(1, "sip.test.internal.", dnsmessage.TypeA)
			requireProxies(t, a4, proxyRange4)
			requireProxies(t, ask(2, "SIP.Test.Internal.", dnsmessage.TypeAAAA), proxyRange6)
			if again := ask(3, "sip.test.internal.", dnsmessage.TypeA); !slices.Equal(again.addrs, a4.addrs) {
				t.Fatalf("proxy IPs changed within the allocation: %v then %v", a4.addrs, again.addrs)
			}
			requireProxies(t, ask(4, "cam.media.test.internal.", dnsmessage.TypeA), proxyRange4)
			// Both families are answered even when one has no records.
			requireProxies(t, ask(5, "cam.media.test.internal.", dnsmessage.TypeAAAA), proxyRange6)
			if a := ask(6, "www.example.com.", dnsmessage.TypeA); a.rcode != dnsmessage.RCodeRefused || len(a.addrs) != 0 {
				t.Fatalf("other name: rcode %v with %v, want REFUSED", a.rcode, a.addrs)
			}
			if a := ask(7, "sip.test.internal.", dnsmessage.TypeTXT); a.rcode != dnsmessage.RCodeSuccess || len(a.addrs) != 0 {
				t.Fatalf("TXT of a resource: rcode %v with %v, want NOERROR without records", a.rcode, a.addrs)
			}
			if err := c.Send(sentinel4, []byte("not a DNS query")); err != nil {
				t.Fatal(err)
			}
			turnclienttest.ExpectNoEvent(t, c, "malformed query")
		})
	}
	for action, reason := range map[string]string{"dns": "sentinel", "resolve": "dns_resolve", "answer": "dns_answered", "drop": "dns_malformed"} {
		if verdicts(srv, action, reason) == 0 {
			t.Errorf("verdict %s/%s not counted: %v", action, reason, srv.Stats().ExtensionCounts)
		}
	}
}

// TestGatewaySentinelPerUser: a user not listed on a resource gets REFUSED
// for its name and "*" resources answer everyone.
func TestGatewaySentinelPerUser(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, withGateway(t, loopbackResources, loopbackResolver()))
	c := dialUser(t, srv, turnclient.UDP, "bob")
	if _, err := c.Allocate(turnclient.AllocateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreatePermission(sentinel4.Addr()); err != nil {
		t.Fatal(err)
	}
	if a := askSentinel(t, c, sentinel4, 0, 1, "sip.test.internal.", dnsmessage.TypeA); a.rcode != dnsmessage.RCodeRefused || len(a.addrs) != 0 {
		t.Fatalf("bob asking for alice's resource: rcode %v with %v, want REFUSED", a.rcode, a.addrs)
	}
	requireProxies(t, askSentinel(t, c, sentinel4, 0, 2, "cam.media.test.internal.", dnsmessage.TypeA), proxyRange4)
	if verdicts(srv, "answer", "dns_refused") == 0 {
		t.Errorf("REFUSED not counted: %v", srv.Stats().ExtensionCounts)
	}
}

// TestGatewayResolutionsCoalesce: queries for a domain whose resolution is
// in flight join it — one Resolve call for many queries, from one or
// several allocations — and are all answered when it ends; an
// allocation's queries beyond maxPendingPerSession are dropped and counted;
// a query after the resolution ended resolves again.
func TestGatewayResolutionsCoalesce(t *testing.T) {
	t.Parallel()
	res := loopbackResolver()
	srv := newTestServer(t, withGateway(t, loopbackResources, res))
	clients := make([]*turnclient.Client, 2)
	for i := range clients {
		clients[i] = dialUser(t, srv, turnclient.UDP, "alice")
		if _, err := clients[i].Allocate(turnclient.AllocateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := clients[i].CreatePermission(sentinel4.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	res.hold()
	const sent = maxPendingPerSession + 4
	for id := uint16(1); id <= sent; id++ {
		if err := clients[0].Send(sentinel4, dnsQuery(t, id, "sip.test.internal.", dnsmessage.TypeA)); err != nil {
			t.Fatal(err)
		}
	}
	if err := clients[1].Send(sentinel4, dnsQuery(t, 100, "sip.test.internal.", dnsmessage.TypeA)); err != nil {
		t.Fatal(err)
	}
	turnclienttest.WaitUntil(t, "every query to reach the relay", func() bool {
		return verdicts(srv, "resolve", "dns_resolve") == sent+1
	})
	if busy := verdicts(srv, "drop", resolveBusyReason); busy != sent-maxPendingPerSession {
		t.Fatalf("%d queries dropped as busy, want %d", busy, sent-maxPendingPerSession)
	}
	res.release()
	ids := map[uint16]bool{}
	for range maxPendingPerSession {
		ids[askedID(t, clients[0])] = true
	}
	if len(ids) != maxPendingPerSession {
		t.Fatalf("answers to %d distinct queries, want %d", len(ids), maxPendingPerSession)
	}
	if id := askedID(t, clients[1]); id != 100 {
		t.Fatalf("second allocation: answer ID %d, want 100", id)
	}
	turnclienttest.ExpectNoEvent(t, clients[0], "answers beyond the per-allocation limit")
	if n := res.callsFor("sip.test.internal"); n != 1 {
		t.Fatalf("%d resolutions for %d concurrent queries, want 1", n, sent+1)
	}
	requireProxies(t, askSentinel(t, clients[0], sentinel4, 0, 200, "sip.test.internal.", dnsmessage.TypeA), proxyRange4)
	if n := res.callsFor("sip.test.internal"); n != 2 {
		t.Fatalf("a later query did not resolve again (%d resolutions)", n)
	}
}

// askedID waits for a DNS answer from the sentinel and returns its ID.
func askedID(t testing.TB, c *turnclient.Client) uint16 {
	t.Helper()
	ev := turnclienttest.MustEvent(t, c, make([]byte, 2048))
	if ev.Kind != turnclient.EventData || ev.Data.Peer != sentinel4 {
		t.Fatalf("got %v %+v, want a DNS answer from the sentinel", ev.Kind, ev.Data)
	}
	a := parseDNSAnswer(t, ev.Data.Payload)
	requireProxies(t, a, proxyRange4)
	return a.id
}

// TestGatewayCloseEndsResolutions: closing the relay cancels resolutions
// in flight instead of waiting out the resolver. Close waits for the
// gateway's goroutines, so returning promptly means none is left.
func TestGatewayCloseEndsResolutions(t *testing.T) {
	res := loopbackResolver()
	res.started = make(chan string, 1)
	srv := newTestServer(t, withGateway(t, loopbackResources, res))
	c := dialUser(t, srv, turnclient.UDP, "alice")
	if _, err := c.Allocate(turnclient.AllocateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CreatePermission(sentinel4.Addr()); err != nil {
		t.Fatal(err)
	}
	res.hold()
	if err := c.Send(sentinel4, dnsQuery(t, 1, "sip.test.internal.", dnsmessage.TypeA)); err != nil {
		t.Fatal(err)
	}
	<-res.started
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("Close waited for a resolution in flight")
	}
	srv.x.dns.mu.Lock()
	left := len(srv.x.dns.inflight)
	srv.x.dns.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d resolutions still registered after Close", left)
	}
}

// TestGatewaySentinelIPv6: an IPv6 allocation reaches the IPv6 sentinel,
// and the answer comes back from it.
func TestGatewaySentinelIPv6(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, withGateway(t, loopbackResources, loopbackResolver()))
	c := dialUser(t, srv, turnclient.UDP, "alice")
	if _, err := c.Allocate(turnclient.AllocateOptions{RequestedFamily: turnclient.FamilyIPv6}); err != nil {
		t.Fatal(err)
	}
	if got := turnclient.Code(c.CreatePermission(sentinel4.Addr())); got != 443 {
		t.Fatalf("IPv4 sentinel from an IPv6 allocation: code %d, want 443", got)
	}
	if err := c.CreatePermission(sentinel6.Addr()); err != nil {
		t.Fatal(err)
	}
	requireProxies(t, askSentinel(t, c, sentinel6, 0, 1, "sip.test.internal.", dnsmessage.TypeAAAA), proxyRange6)
}
