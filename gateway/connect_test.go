package gateway

import (
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// tcpResources has an SSH-style resource (tcp 22 only), one without filters,
// one with only udp filters and a CIDR resource open for tcp 443.
const tcpResources = `{"resources": [
  {"name": "ssh", "domain": "bastion.internal", "users": ["alice"],
   "filters": [{"protocol": "tcp", "ports": "22"}]},
  {"name": "any", "domain": "open.internal", "users": ["alice"]},
  {"name": "voip", "domain": "sip.internal", "users": ["alice"],
   "filters": [{"protocol": "udp", "ports": "5060"}]},
  {"name": "web", "cidr": "10.9.0.0/24", "users": ["alice"],
   "filters": [{"protocol": "tcp", "ports": "443"}]},
  {"name": "bob-only", "domain": "bob.internal", "users": ["bob"]}
]}`

// RFC 6062 Connect through the gateway: tcp filters decide the port (udp
// ones permit no connection), a proxy connects to its real IP of the
// moment and a re-resolution moves only later Connects, a proxy without
// records is ActionRefuse (447), and CIDR resources work as for datagrams.
func TestSessionConnect(t *testing.T) {
	gw := newTestGateway(t, tcpResources, nil)
	s := gw.NewSession("alice")
	bastion4, bastion6 := proxiesFor(t, s, "bastion.internal", addrs("192.0.2.10"), addrs("2001:db8::10"), at(0))
	open4, _ := proxiesFor(t, s, "open.internal", addrs("192.0.2.20"), nil, at(0))
	sip4, _ := proxiesFor(t, s, "sip.internal", addrs("192.0.2.30"), nil, at(0))

	want(t, "ssh port", s.Connect(ap(bastion4[0], 22), at(1)), ActionSend, ReasonTranslated, app("192.0.2.10:22"))
	want(t, "ssh port v6", s.Connect(ap(bastion6[0], 22), at(1)), ActionSend, ReasonTranslated, app("[2001:db8::10]:22"))
	want(t, "other port", s.Connect(ap(bastion4[0], 80), at(1)), ActionForbid, ReasonFilterDenied, ap(bastion4[0], 80))
	want(t, "no filters", s.Connect(ap(open4[0], 8080), at(1)), ActionSend, ReasonTranslated, app("192.0.2.20:8080"))
	want(t, "udp filter only", s.Connect(ap(sip4[0], 5060), at(1)), ActionForbid, ReasonFilterDenied, netip.AddrPort{})
	want(t, "cidr tcp port", s.Connect(app("10.9.0.5:443"), at(1)), ActionSend, ReasonDirect, app("10.9.0.5:443"))
	want(t, "cidr other port", s.Connect(app("10.9.0.5:22"), at(1)), ActionForbid, ReasonFilterDenied, netip.AddrPort{})
	want(t, "ordinary peer", s.Connect(app("203.0.113.1:22"), at(1)), ActionPass, ReasonNotGateway, netip.AddrPort{})
	want(t, "sentinel", s.Connect(ap(gw.cfg.DNS.V4.Addr(), 53), at(1)), ActionForbid, ReasonSentinel, netip.AddrPort{})
	want(t, "unknown proxy", s.Connect(ap(bastion4[0].Next().Next().Next().Next().Next().Next().Next().Next(), 22), at(1)), ActionForbid, ReasonUnknownProxy, netip.AddrPort{})
	want(t, "mapped proxy", s.Connect(netip.AddrPortFrom(netip.AddrFrom16(bastion4[0].As16()), 22), at(1)), ActionForbid, ReasonMappedAddress, netip.AddrPort{})

	// Re-resolution: the next Connect goes to the new IP (a connection
	// already open keeps its socket, which the gateway never touches).
	lookup(t, s, "bastion.internal", dnsmessage.TypeA, addrs("192.0.2.11"), nil, at(600))
	want(t, "after re-resolution", s.Connect(ap(bastion4[0], 22), at(601)), ActionSend, ReasonTranslated, app("192.0.2.11:22"))

	// The name now resolves only to never-reachable addresses: nothing to
	// connect to (447), whatever the name says.
	lookup(t, s, "bastion.internal", dnsmessage.TypeA, addrs("127.0.0.1", "169.254.169.254"), nil, at(700))
	want(t, "loopback and metadata", s.Connect(ap(bastion4[0], 22), at(701)), ActionRefuse, ReasonNoRecords, netip.AddrPort{})

	bob := gw.NewSession("bob")
	bob4, _ := proxiesFor(t, bob, "bob.internal", addrs("192.0.2.40"), nil, at(0))
	want(t, "bob's resource for bob", bob.Connect(ap(bob4[0], 22), at(1)), ActionSend, ReasonTranslated, app("192.0.2.40:22"))
	want(t, "cidr for bob", bob.Connect(app("10.9.0.5:443"), at(1)), ActionForbid, ReasonNoAccess, netip.AddrPort{})

	// A reload that takes alice off a resource refuses her next Connect.
	if err := gw.Reload([]byte(strings.Replace(tcpResources, `"open.internal", "users": ["alice"]`, `"open.internal", "users": ["bob"]`, 1))); err != nil {
		t.Fatal(err)
	}
	want(t, "access withdrawn", s.Connect(ap(open4[0], 8080), at(2)), ActionForbid, ReasonNoAccess, netip.AddrPort{})

	s.Close()
	want(t, "closed", s.Connect(ap(open4[0], 8080), at(2)), ActionForbid, ReasonClosed, netip.AddrPort{})
}

// RFC 6062 §5.3 through the gateway: resources are outbound only, so a
// connection from inside a CIDR resource, from the proxy ranges or the
// sentinel is refused; other sources are left to the relay's permissions.
func TestSessionAcceptPeer(t *testing.T) {
	gw := newTestGateway(t, tcpResources, nil)
	s := gw.NewSession("alice")
	p4, _ := proxiesFor(t, s, "open.internal", addrs("192.0.2.20"), nil, at(0))
	want(t, "cidr source", s.AcceptPeer(app("10.9.0.5:40000"), at(1)), ActionForbid, ReasonNoAccess, netip.AddrPort{})
	want(t, "mapped cidr source", s.AcceptPeer(app("[::ffff:10.9.0.5]:40000"), at(1)), ActionForbid, ReasonNoAccess, app("10.9.0.5:40000"))
	want(t, "proxy source", s.AcceptPeer(ap(p4[0], 40000), at(1)), ActionForbid, ReasonProxySource, netip.AddrPort{})
	want(t, "sentinel source", s.AcceptPeer(ap(gw.cfg.DNS.V4.Addr(), 53), at(1)), ActionForbid, ReasonProxySource, netip.AddrPort{})
	want(t, "real IP of a resource", s.AcceptPeer(app("192.0.2.20:22"), at(1)), ActionPass, ReasonNotGateway, netip.AddrPort{})
	want(t, "ordinary source", s.AcceptPeer(app("203.0.113.1:40000"), at(1)), ActionPass, ReasonNotGateway, netip.AddrPort{})
}
