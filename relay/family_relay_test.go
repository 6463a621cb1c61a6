package relay

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/turnclient/turnclienttest"

	"github.com/turnstile-relay/turnstile/internal/turnclient"
	"github.com/turnstile-relay/turnstile/peerpolicy"
)

// TestRelayAcrossFamilies: the relayed address's family follows
// REQUESTED-ADDRESS-FAMILY (default IPv4, RFC 8656 §7.2 step 7), not the
// family the client reaches the relay over: an IPv4 client relays to an
// IPv6 peer from an IPv6 relayed address, an IPv6 client to an IPv4 peer
// from an IPv4 one, and both ways back.
func TestRelayAcrossFamilies(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, withUDP6ClientListener)
	for _, tc := range []struct {
		name   string
		server netip.AddrPort
		opts   turnclient.AllocateOptions
		peer   string
	}{
		{"IPv4 client, IPv6 relayed address", srv.UDPAddrs()[0], turnclient.AllocateOptions{RequestedFamily: turnclient.FamilyIPv6}, "udp6"},
		{"IPv6 client, IPv4 relayed address by default", srv.UDPAddrs()[1], turnclient.AllocateOptions{}, "udp4"},
		{"IPv6 client, IPv6 relayed address", srv.UDPAddrs()[1], turnclient.AllocateOptions{RequestedFamily: turnclient.FamilyIPv6}, "udp6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialTurnclient(t, srv, turnclient.UDP, tc.server)
			a, err := c.Allocate(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			p := newUDPPeer(t, tc.peer)
			if len(a.Relayed) != 1 || udpNetworkOf(a.Relayed[0]) != tc.peer {
				t.Fatalf("relayed %v, want one %s address", a.Relayed, tc.peer)
			}
			if a.Mapped != c.LocalAddr() {
				t.Fatalf("XOR-MAPPED-ADDRESS %v, want %v", a.Mapped, c.LocalAddr())
			}
			if err := c.CreatePermission(p.addr().Addr()); err != nil {
				t.Fatal(err)
			}
			if err := c.Send(p.addr(), []byte("out")); err != nil {
				t.Fatal(err)
			}
			if got, from, ok := p.recv(3 * time.Second); !ok || string(got) != "out" || from != a.Relayed[0] {
				t.Fatalf("peer got %q from %v (ok=%v), want \"out\" from %v", got, from, ok, a.Relayed[0])
			}
			p.sendTo([]byte("back"), a.Relayed[0])
			ev := turnclienttest.MustEvent(t, c, make([]byte, 100))
			if ev.Kind != turnclient.EventData || ev.Data.Peer != p.addr() || !bytes.Equal(ev.Data.Payload, []byte("back")) {
				t.Fatalf("client got %v %+v", ev.Kind, ev.Data)
			}
		})
	}
}

// TestDefaultPeerPolicyForIPv6Peers: with the default peer filter (nothing
// widened) an allocation's IPv6 permissions are refused with 403 for every
// address that is not global unicast, including IPv4-mapped forms of
// denied IPv4 addresses, and granted for a global unicast address
// (CreatePermission sends nothing, so no traffic leaves the host).
func TestDefaultPeerPolicyForIPv6Peers(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(c *Config) {
		p := *c.Policy.(*DefaultPolicy)
		f, err := peerpolicy.New(peerpolicy.Config{})
		if err != nil {
			t.Fatal(err)
		}
		p.Peers = f
		c.Policy = &p
	})
	c := dialTurnclient(t, srv, turnclient.UDP)
	if _, err := c.Allocate(turnclient.AllocateOptions{AdditionalFamily: turnclient.FamilyIPv6}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		peer string
		code int
	}{
		{"::1", 403},                 // loopback
		{"fe80::1", 403},             // link-local
		{"fd00::1", 403},             // unique local
		{"ff02::1", 403},             // multicast
		{"2001:db8::1", 403},         // documentation
		{"::ffff:127.0.0.1", 403},    // IPv4-mapped loopback
		{"::ffff:10.0.0.1", 403},     // IPv4-mapped RFC 1918
		{"64:ff9b::a00:1", 403},      // NAT64 form of 10.0.0.1
		{"2002:a00:1::1", 403},       // 6to4 of 10.0.0.1
		{"2606:4700:4700::1111", 0},  // global unicast
		{"::ffff:198.51.100.1", 403}, // IPv4-mapped documentation range
	} {
		err := c.CreatePermission(netip.MustParseAddr(tc.peer))
		if got := turnclient.Code(err); got != tc.code || tc.code == 0 && err != nil {
			t.Errorf("CreatePermission(%s): %v, want code %d", tc.peer, err, tc.code)
		}
	}
}
