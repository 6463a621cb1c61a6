package relayext

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/turnclient"
	"github.com/turnstile-relay/turnstile/relay"
)

// fuzzResources has no CIDR resource and its names resolve to nothing, so
// no fuzzed datagram can open a flow: every input stays on the relay and
// its client (loopback), whatever port or address the fuzzer picks.
const fuzzResources = `{"resources": [
  {"name": "voip", "domain": "sip.test.internal", "users": ["alice"],
   "filters": [{"protocol": "udp", "ports": "5060-5080"}]},
  {"name": "media", "domain": "*.media.test.internal", "users": ["*"]}
]}`

// FuzzGatewayPeerPath feeds arbitrary datagrams through the gateway hooks of
// a live allocation of a relay: client datagrams to the sentinel (the DNS query
// parser and the resolution path), to proxy IPs and to any address, peer
// datagrams and ICMP errors from any address. The first byte picks the
// hook and the destination, the next two the port, the rest is the
// payload. The invariants: nothing panics, and no input opens a NAT flow
// (the names resolve to nothing), so nothing is sent to a resource. The
// client's own events are left unread: its queue drops what overflows.
// The seed corpus (testdata/fuzz/FuzzGatewayPeerPath) has a query per kind
// of answer and an input per hook.
func FuzzGatewayPeerPath(f *testing.F) {
	srv := newTestServer(f, withGateway(f, fuzzResources, newFakeResolver()))
	c := dialUser(f, srv, turnclient.UDP, "alice")
	if _, err := c.Allocate(turnclient.AllocateOptions{AdditionalFamily: turnclient.FamilyIPv6}); err != nil {
		f.Fatal(err)
	}
	if err := c.CreatePermission(sentinel4.Addr()); err != nil {
		f.Fatal(err)
	}
	proxies := proxiesOf(f, c, sentinel4, "sip.test.internal.", dnsmessage.TypeA)
	proxies = append(proxies, proxiesOf(f, c, sentinel4, "sip.test.internal.", dnsmessage.TypeAAAA)...)
	if err := c.CreatePermission(proxies...); err != nil {
		f.Fatal(err)
	}
	sess := srv.x.last(f)
	targets := append([]netip.Addr{sentinel4.Addr(), sentinel6.Addr(), netip.MustParseAddr("10.9.0.5"), netip.MustParseAddr("::ffff:100.100.111.1")}, proxies...)

	// The hooks are driven directly, as the relay calls them, with a
	// client that only counts: the relay's own paths around them are
	// fuzzed in package relay.
	var client discardClient
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 {
			return
		}
		hook, pick := data[0]>>6, int(data[0]&0x3f)
		addr := netip.AddrPortFrom(targets[pick%len(targets)], binary.BigEndian.Uint16(data[1:3]))
		payload := data[3:]
		now := mono.Now()
		switch hook {
		case 0:
			sess.Outbound(&client, netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port()), payload, now, 1)
		case 1:
			sess.Inbound(addr, now, 1)
		case 2:
			var typ, code uint8
			if len(payload) >= 2 {
				typ, code = payload[0], payload[1]
			}
			sess.InboundICMP(addr, relay.ICMP{Type: typ, Code: code}, now, 1)
		default:
			sess.Permit(addr, true, now)
		}
		sess.mu.Lock()
		_, flows := sess.core.NextDeadline()
		sess.mu.Unlock()
		if flows {
			t.Fatalf("input %x opened a NAT flow", data)
		}
	})
}
