package turncore

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestOwnSocketsContains: which peer addresses reach one of the relay's own
// sockets. A socket on a specific address is reached there only (and at an
// IPv4-mapped or NAT64 form of it); one on an unspecified address on every
// host address, loopback's whole /8 included; the unspecified peer address
// is this host whichever socket holds the port.
func TestOwnSocketsContains(t *testing.T) {
	own := NewOwnSockets(
		[]netip.AddrPort{
			netip.MustParseAddrPort("198.51.100.1:3478"),
			netip.MustParseAddrPort("[2001:db8::1]:5349"),
			netip.MustParseAddrPort("0.0.0.0:9464"),
			netip.MustParseAddrPort("[::ffff:198.51.100.2]:3479"),
		},
		[]netip.Prefix{
			netip.MustParsePrefix("127.0.0.0/8"),
			netip.MustParsePrefix("::1/128"),
			netip.MustParsePrefix("203.0.113.1/32"),
		},
	)
	cases := []struct {
		peer string
		want bool
	}{
		{"198.51.100.1:3478", true},
		{"198.51.100.1:3479", false},             // another port of an own address: the Policy's
		{"198.51.100.9:3478", false},             // the same port elsewhere
		{"[::ffff:198.51.100.1]:3478", true},     // IPv4-mapped
		{"[64:ff9b::c633:6401]:3478", true},      // NAT64 of 198.51.100.1
		{"[64:ff9b:1:c633:64:100::]:3478", true}, // local-use NAT64, /48 layout
		{"[2002:c633:6401::1]:3478", true},       // 6to4 of 198.51.100.1
		{"[::c633:6401]:3478", true},             // IPv4-compatible
		{"198.51.100.2:3479", true},              // a socket given IPv4-mapped
		{"[2001:db8::1]:5349", true},             // IPv6 listener
		{"[2001:db8::2]:5349", false},            // not its address
		{"203.0.113.1:9464", true},               // wildcard, a host address
		{"127.0.0.9:9464", true},                 // wildcard, loopback's /8
		{"[::1]:9464", true},                     // wildcard, IPv6 loopback
		{"192.0.2.7:9464", false},                // wildcard, not a host address
		{"0.0.0.0:3478", true},                   // the unspecified address is this host
		{"[::]:9464", true},                      //   in either family
		{"0.0.0.0:3480", false},                  //   but only on a listening port
		{"203.0.113.1:49152", false},             // a relayed port: hairpin
	}
	for _, tc := range cases {
		if got := own.Contains(netip.MustParseAddrPort(tc.peer)); got != tc.want {
			t.Errorf("Contains(%s) = %v, want %v", tc.peer, got, tc.want)
		}
	}
	var none *OwnSockets
	if none.Contains(netip.MustParseAddrPort("198.51.100.1:3478")) {
		t.Error("a nil set (sockets not bound yet) contains a peer")
	}
}

// TestOwnSocketsAllocateNothing: Contains runs on the Send indication path
// and, for an extension's translated destinations, on the ChannelData path.
func TestOwnSocketsAllocateNothing(t *testing.T) {
	own := NewOwnSockets([]netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:3478")}, []netip.Prefix{netip.MustParsePrefix("203.0.113.1/32")})
	peer := netip.MustParseAddrPort("[64:ff9b::cb00:7101]:3478")
	if n := testing.AllocsPerRun(100, func() { own.Contains(peer) }); n != 0 {
		t.Fatalf("Contains allocates %v times", n)
	}
}

// TestOwnSocketsBeforeTheExtension: a peer the extension claims and allows
// is still refused when it is one of the relay's own sockets (an extension
// may cover the relay's own subnet, as a gateway resource can), and a Send
// to it is dropped before it reaches the extension.
func TestOwnSocketsBeforeTheExtension(t *testing.T) {
	hooks := &fakeHooks{claimed: netip.MustParseAddr("198.51.100.1"), allow: true}
	set := defaultSettings()
	set.nonceLife = time.Hour
	set.hooks = hooks
	set.own = []netip.AddrPort{netip.MustParseAddrPort("198.51.100.1:3478")}
	sc := newTestScenario(t, set)
	sc.do("client alice 192.0.2.10:5000")
	if got := lastLine(sc.do("allocate alice")); !strings.HasPrefix(got, "allocate success") {
		t.Fatalf("allocate alice: %s", got)
	}
	if got := lastLine(sc.do("permit alice 198.51.100.1")); got != "create_permission success MI" {
		t.Fatalf("permission for the relay's IP, claimed by the extension: %s", got)
	}
	if got := lastLine(sc.do("chanbind alice 4000 198.51.100.1:3478")); got != "channel_bind error 403 MI" {
		t.Fatalf("ChannelBind to the relay's listener, allowed by the extension: %s, want 403", got)
	}
	if got := lastLine(sc.do("chanbind alice 4000 198.51.100.1:3480")); got != "channel_bind success MI" {
		t.Fatalf("ChannelBind to another port the extension allows: %s", got)
	}
	if got := sc.do("send alice 198.51.100.1:3478 x"); len(got) != 1 || got[0] != "drop peer_own_socket" {
		t.Fatalf("Send to the relay's listener: %q, want it dropped as peer_own_socket", got)
	}
}
