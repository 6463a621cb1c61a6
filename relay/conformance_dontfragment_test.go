package relay

import (
	"testing"

	"github.com/turnstile-relay/turnstile/internal/netio"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
	"golang.org/x/sys/unix"
)

// Conformance of DONT-FRAGMENT (RFC 8656 §7.2 step 4, §11.2, §14). The relay
// claims DF support for an allocation that asked for it (it answers success,
// not 420, and relays Send indications carrying DONT-FRAGMENT), which is
// only honest if that allocation's relayed sockets really forbid
// fragmentation. Loopback's 64 KiB MTU never fragments a UDP datagram, so
// the tests read the socket option the relay relies on (IP_MTU_DISCOVER =
// IP_PMTUDISC_DO, IPV6_DONTFRAG = 1) from the socket.

// dfState reports whether a relayed socket forbids fragmentation.
func dfState(t testing.TB, rs *relaySocket) bool {
	t.Helper()
	fd := rs.sock.(*netio.Socket).Fd()
	if rs.public.Addr().Is4() {
		v, err := unix.GetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER)
		if err != nil {
			t.Fatal(err)
		}
		return v == unix.IP_PMTUDISC_DO
	}
	v, err := unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG)
	if err != nil {
		t.Fatal(err)
	}
	return v == 1
}

// sessionOf returns the shell state of c's allocation.
func sessionOf(t testing.TB, srv *testServer, c *rawClient) *session {
	t.Helper()
	a := lookupAllocation(srv, c.fiveTuple())
	if a == nil {
		t.Fatal("no allocation")
	}
	return a.Ext.(*session)
}

// TestConformanceDontFragmentSockets: an allocation made with DONT-FRAGMENT
// has DF set on each relayed socket, IPv4 and IPv6; one made without does
// not forbid fragmentation (RFC 8656 §7.2 step 4, §14).
func TestConformanceDontFragmentSockets(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	dual := func(df bool) msgBuilder {
		return func(b *stunmsg.Builder) {
			b.AddAddressFamily(stunmsg.AttrAdditionalAddressFamily, stunmsg.FamilyIPv6)
			if df {
				b.Add(stunmsg.AttrDontFragment, nil)
			}
		}
	}
	for _, df := range []bool{true, false} {
		c := newRawClient(t, srv.udp, "udp4")
		requireCode(t, c.allocateWith(dual(df)), 0)
		sess := sessionOf(t, srv, c)
		for _, rs := range []*relaySocket{sess.relay4, sess.relay6} {
			if got := dfState(t, rs); got != df {
				t.Fatalf("DONT-FRAGMENT %v: relayed socket %s forbids fragmentation: %v", df, rs.public, got)
			}
		}
	}
}

// TestConformanceDontFragmentReservedPort: an Allocate that redeems a
// RESERVATION-TOKEN and asks for DONT-FRAGMENT is accepted, so the relayed
// socket it gets must forbid fragmentation like any other DONT-FRAGMENT
// allocation (RFC 8656 §7.2 step 4: support DF or answer 420; §11.2: a Send
// indication with DONT-FRAGMENT is relayed with DF set). The reserved socket
// was opened for the first Allocate, which did not ask for DF.
func TestConformanceDontFragmentReservedPort(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	first := newRawClient(t, srv.udp, "udp4")
	m := first.allocateWith(func(b *stunmsg.Builder) { b.AddEvenPort(true) })
	requireCode(t, m, 0)
	token, ok := m.Get(stunmsg.AttrReservationToken)
	if !ok {
		t.Fatal("no RESERVATION-TOKEN")
	}
	token = append([]byte(nil), token...)

	second := newRawClient(t, srv.udp, "udp4")
	m = second.allocateWith(func(b *stunmsg.Builder) {
		b.Add(stunmsg.AttrReservationToken, token)
		b.Add(stunmsg.AttrDontFragment, nil)
	})
	if errorCode(m) == 420 {
		return // refusing DONT-FRAGMENT here would be conformant too
	}
	requireCode(t, m, 0)
	sess := sessionOf(t, srv, second)
	if !sess.DontFragment() {
		t.Fatal("the allocation does not record DONT-FRAGMENT")
	}
	if !dfState(t, sess.relay4) {
		t.Fatalf("DONT-FRAGMENT allocation on reserved port %s relays without DF", sess.relay4.public)
	}
}
