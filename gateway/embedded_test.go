package gateway

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/turnstile-relay/turnstile/peerpolicy"
)

// neverReachableEmbeddings are IPv6 forms of loopback and the cloud metadata
// address that a DNS answer could carry: IPv4-compatible, NAT64 well-known
// and local-use, 6to4 and Teredo (server and client).
var neverReachableEmbeddings = []string{
	"::127.0.0.1", "::169.254.169.254",
	"64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::a9fe:a9fe",
	"2002:7f00:1::1", "2002:a9fe:a9fe::1",
	"2001:0:7f00:1::1", "2001:0:4136:e378:8000:63bf:80ff:fffe",
}

// TestDNSEmbeddedNeverReachable: a name resolving only to IPv6 forms that
// embed a never-reachable IPv4 address maps its proxies to nothing, so a
// datagram to a proxy is refused with "no records" and never translated.
func TestDNSEmbeddedNeverReachable(t *testing.T) {
	for _, s := range neverReachableEmbeddings {
		t.Run(s, func(t *testing.T) {
			sess := newTestGateway(t, exampleResources, nil).NewSession("alice")
			_, p6 := proxiesFor(t, sess, "evil.media.internal", nil, addrs(s), at(0))
			v := sess.Outbound(ap(p6[0], 443), at(1))
			want(t, "outbound to "+s, v, ActionRefuse, ReasonNoRecords, netip.AddrPort{})
		})
	}
	// The control: a global IPv6 answer is translated.
	sess := newTestGateway(t, exampleResources, nil).NewSession("alice")
	_, p6 := proxiesFor(t, sess, "good.media.internal", nil, addrs("2001:db8::7"), at(0))
	want(t, "outbound to a global answer", sess.Outbound(ap(p6[0], 443), at(1)), ActionSend, ReasonTranslated, app("[2001:db8::7]:443"))
}

// TestCIDRResourceEmbeddedNeverReachable: a CIDR resource may cover a NAT64
// prefix; an address in it that embeds loopback or link-local is refused
// like a filtered port, while an embedded global address is sent to.
func TestCIDRResourceEmbeddedNeverReachable(t *testing.T) {
	const nat64 = `{"resources": [{"name": "nat64", "cidr": "64:ff9b::/96", "users": ["*"]}]}`
	sess := newTestGateway(t, nat64, nil).NewSession("alice")
	for _, s := range []string{"64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe"} {
		want(t, "outbound to "+s, sess.Outbound(ap(netip.MustParseAddr(s), 443), at(0)), ActionRefuse, ReasonFilterDenied, netip.AddrPort{})
	}
	want(t, "outbound to 64:ff9b::c000:201", sess.Outbound(app("[64:ff9b::c000:201]:443"), at(0)), ActionSend, ReasonDirect, app("[64:ff9b::c000:201]:443"))
}

// TestNeverReachableAgreesWithPeerPolicy: for random IPv4 addresses in
// random IPv6 embeddings, the gateway and the default peer policy read the
// address the same way (peerpolicy.Normalize): every embedding of a
// never-reachable IPv4 address is refused by both, and the unambiguous
// embeddings (compatible, NAT64 /96) are refused by the gateway exactly when
// their IPv4 address is.
func TestNeverReachableAgreesWithPeerPolicy(t *testing.T) {
	policy, err := peerpolicy.New(peerpolicy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(15, 4))
	embed := []struct {
		name        string
		unambiguous bool
		form        func(v4 [4]byte, noise [16]byte) [16]byte
	}{
		{"compatible", true, func(v [4]byte, _ [16]byte) (b [16]byte) { copy(b[12:], v[:]); return b }},
		{"nat64", true, func(v [4]byte, _ [16]byte) (b [16]byte) {
			b = netip.MustParseAddr("64:ff9b::").As16()
			copy(b[12:], v[:])
			return b
		}},
		{"nat64-local-96", false, func(v [4]byte, n [16]byte) (b [16]byte) {
			b = netip.MustParseAddr("64:ff9b:1::").As16()
			copy(b[6:12], n[6:12])
			copy(b[12:], v[:])
			return b
		}},
		{"nat64-local-48", false, func(v [4]byte, n [16]byte) (b [16]byte) {
			b = netip.MustParseAddr("64:ff9b:1::").As16()
			b[6], b[7], b[9], b[10] = v[0], v[1], v[2], v[3]
			copy(b[11:], n[11:])
			return b
		}},
		{"6to4", false, func(v [4]byte, n [16]byte) (b [16]byte) {
			b = n
			b[0], b[1] = 0x20, 0x02
			copy(b[2:6], v[:])
			return b
		}},
		{"teredo-client", false, func(v [4]byte, n [16]byte) (b [16]byte) {
			b = n
			b[0], b[1], b[2], b[3] = 0x20, 0x01, 0, 0
			for i := range 4 {
				b[12+i] = ^v[i]
			}
			return b
		}},
		{"teredo-server", false, func(v [4]byte, n [16]byte) (b [16]byte) {
			b = n
			b[0], b[1], b[2], b[3] = 0x20, 0x01, 0, 0
			copy(b[4:8], v[:])
			return b
		}},
	}
	// Half the samples come from the never-reachable ranges themselves, so
	// the interesting side of the property is exercised often.
	hot := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("224.0.0.0/3"),
	}
	for i := range 20000 {
		var v [4]byte
		for j := range v {
			v[j] = byte(rng.UintN(256))
		}
		if i%2 == 0 {
			p := hot[rng.IntN(len(hot))]
			base := p.Addr().As4()
			for j := range p.Bits() / 8 {
				v[j] = base[j]
			}
			if p.Bits() == 3 {
				v[0] = 0xe0 | v[0]&0x1f
			}
		}
		var noise [16]byte
		for j := range noise {
			noise[j] = byte(rng.UintN(256))
		}
		ip4 := netip.AddrFrom4(v)
		never := inNeverReachable(ip4)
		e := embed[rng.IntN(len(embed))]
		ip6 := netip.AddrFrom16(e.form(v, noise))
		gatewayRefuses := neverReachableAddr(ip6)
		policyAllows := policy.CheckAddrPort(netip.AddrPortFrom(ip6, 443)).Allowed()
		if never && (!gatewayRefuses || policyAllows) {
			t.Fatalf("%s %s of never-reachable %s: gateway refuses %v, policy allows %v", e.name, ip6, ip4, gatewayRefuses, policyAllows)
		}
		if e.unambiguous && gatewayRefuses != never {
			t.Fatalf("%s %s: gateway refuses %v, but refuses %s: %v", e.name, ip6, gatewayRefuses, ip4, never)
		}
		if e.unambiguous && policyAllows != policy.CheckAddrPort(netip.AddrPortFrom(ip4, 443)).Allowed() {
			t.Fatalf("%s %s: policy judges it unlike %s", e.name, ip6, ip4)
		}
	}
}
