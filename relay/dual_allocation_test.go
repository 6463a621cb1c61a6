package relay

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/turnclient/turnclienttest"

	"github.com/turnstile-relay/turnstile/internal/turnclient"
)

// TestDualAllocationRelaysEachFamily: a dual allocation (ADDITIONAL-ADDRESS-
// FAMILY = IPv6, RFC 8656 §7.2 step 9) gets an IPv4 and an IPv6 relayed
// address, IPv4 first; one CreatePermission may name peers of both families
// (§10.1); each family is relayed from its own relayed address, with Send
// indications and with channels, and the peers' answers come back from the
// right peer. The client reaches the relay over IPv4 (UDP, TCP) and over
// IPv6 (UDP on [::1]).
func TestDualAllocationRelaysEachFamily(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, withUDP6ClientListener)
	for _, tc := range []struct {
		name      string
		transport turnclient.Transport
		server    []netip.AddrPort
	}{
		{"IPv4 client over UDP", turnclient.UDP, nil},
		{"IPv4 client over TCP", turnclient.TCP, nil},
		{"IPv6 client over UDP", turnclient.UDP, []netip.AddrPort{srv.UDPAddrs()[1]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialTurnclient(t, srv, tc.transport, tc.server...)
			a, err := c.Allocate(turnclient.AllocateOptions{AdditionalFamily: turnclient.FamilyIPv6})
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Relayed) != 2 || !a.Relayed[0].Addr().Is4() || !a.Relayed[1].Addr().Is6() || a.FamilyError != nil {
				t.Fatalf("allocation %v (address error %+v), want IPv4 then IPv6", a.Relayed, a.FamilyError)
			}
			peers := []*udpPeer{newUDPPeer(t, "udp4"), newUDPPeer(t, "udp6")}
			if err := c.CreatePermission(peers[0].addr().Addr(), peers[1].addr().Addr()); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 2048)
			for round, channels := range [][]uint16{{0, 0}, {0x4001, 0x4002}} {
				for i, p := range peers {
					if ch := channels[i]; ch != 0 {
						if err := c.BindChannel(ch, p.addr()); err != nil {
							t.Fatal(err)
						}
					}
					msg := fmt.Appendf(nil, "round %d to %v", round, p.addr())
					if err := c.Send(p.addr(), msg); err != nil {
						t.Fatal(err)
					}
					got, from, ok := p.recv(3 * time.Second)
					if !ok || !bytes.Equal(got, msg) {
						t.Fatalf("peer %v got %q (ok=%v), want %q", p.addr(), got, ok, msg)
					}
					if from != a.Relayed[i] {
						t.Fatalf("peer %v got the datagram from %v, want the relayed address %v", p.addr(), from, a.Relayed[i])
					}
					reply := append([]byte("reply to "), msg...)
					p.sendTo(reply, a.Relayed[i])
					ev := turnclienttest.MustEvent(t, c, buf)
					if ev.Kind != turnclient.EventData || ev.Data.Peer != p.addr() || ev.Data.Channel != channels[i] || !bytes.Equal(ev.Data.Payload, reply) {
						t.Fatalf("client got %v %+v, want %q from %v on channel %#x", ev.Kind, ev.Data, reply, p.addr(), channels[i])
					}
				}
			}
		})
	}
}

// TestAddressFamilyAllocateErrors: the Allocate outcomes of RFC 8656 §7.2
// steps 6, 7 and 9 on relays serving both families, IPv4 only and IPv6
// only.
func TestAddressFamilyAllocateErrors(t *testing.T) {
	t.Parallel()
	dual := newTestServer(t)
	only4 := newTestServer(t, withRelayAddrs("127.0.0.1"))
	only6 := newTestServer(t, withRelayAddrs("::1"))
	const v4, v6 = turnclient.FamilyIPv4, turnclient.FamilyIPv6
	for _, tc := range []struct {
		name     string
		srv      *testServer
		opts     turnclient.AllocateOptions
		code     int
		relayed  []turnclient.Family
		familyEC int // ADDRESS-ERROR-CODE for IPv6, 0 when absent
	}{
		{"both family attributes (step 6)", dual, turnclient.AllocateOptions{RequestedFamily: v6, AdditionalFamily: v6}, 400, nil, 0},
		{"ADDITIONAL IPv4 (step 9)", dual, turnclient.AllocateOptions{AdditionalFamily: v4}, 400, nil, 0},
		{"ADDITIONAL of unknown family 3", dual, turnclient.AllocateOptions{AdditionalFamily: 3}, 400, nil, 0},
		{"REQUESTED of unknown family 3 (step 7)", dual, turnclient.AllocateOptions{RequestedFamily: 3}, 440, nil, 0},
		{"REQUESTED IPv6 on an IPv4-only relay", only4, turnclient.AllocateOptions{RequestedFamily: v6}, 440, nil, 0},
		{"REQUESTED IPv4 on an IPv6-only relay", only6, turnclient.AllocateOptions{RequestedFamily: v4}, 440, nil, 0},
		{"no family on an IPv6-only relay (IPv4 is the default)", only6, turnclient.AllocateOptions{}, 440, nil, 0},
		// Step 7 comes before step 9: without REQUESTED-ADDRESS-FAMILY the
		// implied IPv4 must be served.
		{"dual on an IPv6-only relay", only6, turnclient.AllocateOptions{AdditionalFamily: v6}, 440, nil, 0},
		{"dual on an IPv4-only relay: IPv4 and ADDRESS-ERROR-CODE 440", only4, turnclient.AllocateOptions{AdditionalFamily: v6}, 0, []turnclient.Family{v4}, 440},
		{"REQUESTED IPv6 on an IPv6-only relay", only6, turnclient.AllocateOptions{RequestedFamily: v6}, 0, []turnclient.Family{v6}, 0},
		{"dual", dual, turnclient.AllocateOptions{AdditionalFamily: v6}, 0, []turnclient.Family{v4, v6}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialTurnclient(t, tc.srv, turnclient.UDP)
			a, err := c.Allocate(tc.opts)
			if got := turnclient.Code(err); got != tc.code {
				t.Fatalf("got %v, want code %d", err, tc.code)
			}
			if tc.code != 0 {
				return
			}
			var got []turnclient.Family
			for _, r := range a.Relayed {
				got = append(got, turnclient.FamilyOf(r.Addr()))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.relayed) {
				t.Fatalf("relayed families %v, want %v", got, tc.relayed)
			}
			switch {
			case tc.familyEC == 0 && a.FamilyError != nil:
				t.Fatalf("unexpected ADDRESS-ERROR-CODE %+v", a.FamilyError)
			case tc.familyEC != 0 && (a.FamilyError == nil || a.FamilyError.Family != v6 || a.FamilyError.Code != tc.familyEC):
				t.Fatalf("ADDRESS-ERROR-CODE %+v, want IPv6 %d", a.FamilyError, tc.familyEC)
			}
		})
	}
}

// TestPeerFamilyMismatch: a peer of a family the allocation has no relayed
// address for is refused with 443 by CreatePermission (RFC 8656 §10.2,
// atomically: nothing of a mixed list is installed) and ChannelBind
// (§12.2), and a Send indication to it is dropped (§11.2).
func TestPeerFamilyMismatch(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	for _, tc := range []struct {
		name  string
		opts  turnclient.AllocateOptions
		other string // network of the peer the allocation cannot reach
		own   string // network of a peer it can reach
	}{
		{"IPv4 allocation, IPv6 peer", turnclient.AllocateOptions{}, "udp6", "udp4"},
		{"IPv6 allocation, IPv4 peer", turnclient.AllocateOptions{RequestedFamily: turnclient.FamilyIPv6}, "udp4", "udp6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialTurnclient(t, srv, turnclient.UDP)
			a, err := c.Allocate(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			other, own := newUDPPeer(t, tc.other), newUDPPeer(t, tc.own)
			if err := c.CreatePermission(other.addr().Addr()); turnclient.Code(err) != 443 {
				t.Fatalf("CreatePermission: %v, want 443", err)
			}
			if err := c.CreatePermission(own.addr().Addr(), other.addr().Addr()); turnclient.Code(err) != 443 {
				t.Fatalf("CreatePermission of both families: %v, want 443", err)
			}
			if err := c.BindChannel(0x4001, other.addr()); turnclient.Code(err) != 443 {
				t.Fatalf("ChannelBind: %v, want 443", err)
			}
			// The refused mixed CreatePermission installed nothing: own's
			// datagrams are not relayed yet.
			own.sendTo([]byte("too early"), a.Relayed[0])
			turnclienttest.ExpectNoEvent(t, c, "datagram from a peer whose permission was refused")
			before := dropsOf(srv, DropNoPermission)
			if err := c.SendIndication(other.addr(), []byte("wrong family"), false); err != nil {
				t.Fatal(err)
			}
			turnclienttest.WaitUntil(t, "the Send indication to be dropped", func() bool { return dropsOf(srv, DropNoPermission) > before })
			if got, _, ok := other.recv(100 * time.Millisecond); ok {
				t.Fatalf("peer of the other family received %q", got)
			}
		})
	}
}

// withRelayAddrs replaces the relay addresses, e.g. to serve one family.
func withRelayAddrs(ips ...string) serverOption {
	return func(c *Config) {
		c.RelayIPs = c.RelayIPs[:0]
		for _, ip := range ips {
			c.RelayIPs = append(c.RelayIPs, netip.MustParseAddr(ip))
		}
	}
}

// TestDualAllocationWithoutIPv6Port: when the IPv6 relayed port cannot be
// had (the one-port range is taken on ::1), a dual allocation still
// succeeds with the IPv4 address and ADDRESS-ERROR-CODE 508 for IPv6, while
// asking for IPv6 alone fails with 508 (RFC 8656 §7.2 steps 7 and 9).
func TestDualAllocationWithoutIPv6Port(t *testing.T) {
	t.Parallel()
	taken := newUDPPeer(t, "udp6") // holds [::1]:port for the whole test
	port := taken.addr().Port()
	if !udpPortFree(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)) {
		t.Fatalf("port %d is busy on 127.0.0.1 too; cannot build the case", port)
	}
	srv := newTestServer(t, func(c *Config) { c.PortMin, c.PortMax = port, port })
	c := dialTurnclient(t, srv, turnclient.UDP)
	a, err := c.Allocate(turnclient.AllocateOptions{AdditionalFamily: turnclient.FamilyIPv6})
	if err != nil {
		t.Fatal(err)
	}
	want4 := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
	if len(a.Relayed) != 1 || a.Relayed[0] != want4 {
		t.Fatalf("relayed %v, want only %v", a.Relayed, want4)
	}
	if fe := a.FamilyError; fe == nil || fe.Family != turnclient.FamilyIPv6 || fe.Code != 508 {
		t.Fatalf("ADDRESS-ERROR-CODE %+v, want IPv6 508", fe)
	}
	c6 := dialTurnclient(t, srv, turnclient.UDP)
	if _, err := c6.Allocate(turnclient.AllocateOptions{RequestedFamily: turnclient.FamilyIPv6}); turnclient.Code(err) != 508 {
		t.Fatalf("IPv6 alone: %v, want 508", err)
	}
}
