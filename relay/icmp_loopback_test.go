package relay

import (
	"testing"

	"github.com/turnstile-relay/turnstile/internal/turnclient/turnclienttest"

	"github.com/turnstile-relay/turnstile/internal/turnclient"
)

// TestICMPPortUnreachableOnLoopback sends through the relay to a closed
// loopback port and expects the kernel's port unreachable, read from the
// relayed socket's error queue, as a Data indication with XOR-PEER-ADDRESS
// (the quoted destination IP and port) and ICMP (RFC 8656 §11.5): ICMPv4
// type 3 code 3 for an IPv4 relayed address, ICMPv6 type 1 code 4 for an
// IPv6 one, Error Data 0. With a channel bound to the peer it is still a
// Data indication: ChannelData cannot carry ICMP (§12.5), and turnclient
// reports an ICMP event only for a Data indication with the ICMP attribute.
// Loopback is exempt from the kernel's per-destination ICMP rate limit, so
// the cases need no spacing.
func TestICMPPortUnreachableOnLoopback(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	for _, tc := range []struct {
		name      string
		transport turnclient.Transport
		family    turnclient.Family
		channel   bool
		typ, code uint8
	}{
		{"IPv4 relay, Send indication, UDP client", turnclient.UDP, turnclient.FamilyIPv4, false, 3, 3},
		{"IPv4 relay, Send indication, TCP client", turnclient.TCP, turnclient.FamilyIPv4, false, 3, 3},
		{"IPv4 relay, ChannelData, TLS client", turnclient.TLS, turnclient.FamilyIPv4, true, 3, 3},
		{"IPv6 relay, Send indication, UDP client", turnclient.UDP, turnclient.FamilyIPv6, false, 1, 4},
		{"IPv6 relay, ChannelData, UDP client", turnclient.UDP, turnclient.FamilyIPv6, true, 1, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialTurnclient(t, srv, tc.transport)
			if _, err := c.Allocate(turnclient.AllocateOptions{RequestedFamily: tc.family}); err != nil {
				t.Fatal(err)
			}
			network := "udp4"
			if tc.family == turnclient.FamilyIPv6 {
				network = "udp6"
			}
			closed := closedPeerPort(t, network)
			if err := c.CreatePermission(closed.Addr()); err != nil {
				t.Fatal(err)
			}
			if tc.channel {
				if err := c.BindChannel(0x4321, closed); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Send(closed, []byte("anyone there?")); err != nil {
				t.Fatal(err)
			}
			ev := turnclienttest.MustEvent(t, c, make([]byte, 2048))
			want := turnclient.ICMPEvent{Peer: closed, Family: tc.family, Type: tc.typ, Code: tc.code}
			if ev.Kind != turnclient.EventICMP || ev.ICMP != want {
				t.Fatalf("got %v %+v, want ICMP %+v", ev.Kind, ev, want)
			}
		})
	}
	// The loop counts after sending, so the count may trail the client.
	turnclienttest.WaitUntil(t, "five forwarded ICMP errors counted", func() bool { return srv.Stats().ICMPForwarded == 5 })
	byType := srv.Stats().ICMPForwardedByType
	if byType["ipv4"]["dest_unreachable"] != 3 || byType["ipv6"]["dest_unreachable"] != 2 || byType["ipv4"]["packet_too_big"] != 0 {
		t.Errorf("forwarded ICMP by family and type: %v", byType)
	}
}
