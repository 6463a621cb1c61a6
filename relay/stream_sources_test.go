package relay

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/turnclient/turnclienttest"

	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// TestStreamSourceOf: the per-source connection limit counts an IPv4
// address (mapped or not) as one source and an IPv6 address by its /64.
func TestStreamSourceOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"192.0.2.1", "192.0.2.1", true},
		{"192.0.2.1", "::ffff:192.0.2.1", true},
		{"192.0.2.1", "192.0.2.2", false},
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"::ffff:192.0.2.1", "::192.0.2.1", false},
	} {
		a, b := netip.MustParseAddr(tc.a), netip.MustParseAddr(tc.b)
		if got := sourceOf(a) == sourceOf(b); got != tc.same {
			t.Errorf("%s and %s one source: %v, want %v (%s, %s)", a, b, got, tc.same, sourceOf(a), sourceOf(b))
		}
	}
}

// TestStreamConnectionsPerSource: one source holds at most
// TCPMaxConnectionsPerSource connections, TCP and TLS together; the next
// one is closed at once and counted, while another source still connects
// although slots of TCPMaxConnections are left, and a closed connection
// gives its source the slot back.
func TestStreamConnectionsPerSource(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(c *Config) {
		c.TCPMaxConnections = 10
		c.TCPMaxConnectionsPerSource = 2
	})
	from := func(ip string) *net.Dialer {
		return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	}
	binding := func(c *streamClient) []byte {
		return c.creds.build(stunmsg.Binding, stunmsg.Request, newTxID(), false, nil)
	}
	answered := func(c *streamClient) bool {
		if _, err := c.conn.Write(binding(c)); err != nil {
			return false
		}
		f, err := c.readFrame(time.Second)
		return err == nil && len(f) > 0
	}

	first := dialStreamWith(t, srv, "tcp", from("127.0.0.1"))
	second := dialStreamWith(t, srv, "tls", from("127.0.0.1"))
	requireCode(t, first.roundTrip(binding(first)), 0)
	requireCode(t, second.roundTrip(binding(second)), 0)

	before := takeDrops(srv)
	third := dialStreamWith(t, srv, "tcp", from("127.0.0.1"))
	// The relay may already have closed it: a failed write is expected.
	third.conn.Write(binding(third))
	third.requireClosed(3 * time.Second)
	before.requireDropped(t, srv, DropStreamSourceLimit, 1)

	other := dialStreamWith(t, srv, "tcp", from("127.0.0.2"))
	if !answered(other) {
		t.Fatal("a second source was refused while the first held its limit")
	}

	first.conn.Close()
	turnclienttest.WaitUntil(t, "the first source's freed slot", func() bool {
		c := dialStreamWith(t, srv, "tcp", from("127.0.0.1"))
		defer c.conn.Close()
		return answered(c)
	})
}

// TestStreamConnectionsOverTheTotal: a connection beyond TCPMaxConnections
// is closed at once and counted as stream_connection_limit (it was counted
// as stream_frame, which names a bad frame, not a full relay), and a closed
// connection gives its slot back.
func TestStreamConnectionsOverTheTotal(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(c *Config) { c.TCPMaxConnections = 2 })
	binding := func(c *streamClient) []byte {
		return c.creds.build(stunmsg.Binding, stunmsg.Request, newTxID(), false, nil)
	}
	first := dialStream(t, srv, "tcp")
	second := dialStream(t, srv, "tls")
	requireCode(t, first.roundTrip(binding(first)), 0)
	requireCode(t, second.roundTrip(binding(second)), 0)

	before := takeDrops(srv)
	third := dialStream(t, srv, "tcp")
	// The relay may already have closed it: a failed write is expected.
	third.conn.Write(binding(third))
	third.requireClosed(3 * time.Second)
	before.requireDropped(t, srv, DropStreamConnectionLimit, 1)
	if n := dropTotal(srv, DropStreamFrame) - before[DropStreamFrame]; n != 0 {
		t.Fatalf("the refused connection also counted %d stream_frame drops", n)
	}

	first.conn.Close()
	turnclienttest.WaitUntil(t, "the freed slot", func() bool {
		c := dialStream(t, srv, "tcp")
		defer c.conn.Close()
		if _, err := c.conn.Write(binding(c)); err != nil {
			return false
		}
		f, err := c.readFrame(time.Second)
		return err == nil && len(f) > 0
	})
}
