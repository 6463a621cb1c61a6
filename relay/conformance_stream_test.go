package relay

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/turnclient/turnclienttest"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// Conformance over TCP and TLS (RFC 8656 §5, §12.5; RFC 8489 §6.2.2):
// framing, ChannelData padding, the allocation's tie to its connection and
// the relay's connection limits.

var streamTransports = []string{"tcp", "tls"}

// portClosed reports whether a relayed UDP port can be bound again.
func portClosed(ap netip.AddrPort) bool {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// TestConformanceStreamAllocationLifecycle: over TCP and TLS, Binding maps
// the connection's source, Allocate answers with integrity on the
// connection's 5-tuple, and closing the connection deletes the allocation
// (EventDeleted, relayed port released) (RFC 8489 §14.2; RFC 8656 §2, §5,
// §7.2).
func TestConformanceStreamAllocationLifecycle(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	for _, transport := range streamTransports {
		t.Run(transport, func(t *testing.T) {
			c := dialStream(t, srv, transport)
			m := c.roundTrip(c.creds.build(stunmsg.Binding, stunmsg.Request, newTxID(), false, nil))
			requireCode(t, m, 0)
			requireNoSoftware(t, m)
			if got := xorAddr(t, m, stunmsg.AttrXORMappedAddress); got != c.localAddr() {
				t.Fatalf("XOR-MAPPED-ADDRESS %s, want %s", got, c.localAddr())
			}

			deleted := srv.events.count(EventDeleted)
			m = c.request(stunmsg.Allocate, func(b *stunmsg.Builder) { b.AddRequestedTransport(stunmsg.ProtoUDP) })
			requireCode(t, m, 0)
			requireIntegrity(t, m, c.creds.key)
			relayed := xorAddr(t, m, stunmsg.AttrXORRelayedAddress)
			requireRelayed(t, relayed, loopback4)
			if got := xorAddr(t, m, stunmsg.AttrXORMappedAddress); got != c.localAddr() {
				t.Fatalf("XOR-MAPPED-ADDRESS %s, want %s", got, c.localAddr())
			}
			tr, server := allocation.TransportTCP, srv.tcp
			if transport == "tls" {
				tr, server = allocation.TransportTLS, srv.tls
			}
			ft := allocation.FiveTuple{Client: c.localAddr(), Server: server, Transport: tr}
			if lookupAllocation(srv, ft) == nil {
				t.Fatalf("no allocation on the %s 5-tuple", transport)
			}
			requireCode(t, c.request(stunmsg.Allocate, func(b *stunmsg.Builder) { b.AddRequestedTransport(stunmsg.ProtoUDP) }), 437)

			c.conn.Close()
			turnclienttest.WaitUntil(t, "the allocation to go with its connection", func() bool {
				return lookupAllocation(srv, ft) == nil && srv.events.count(EventDeleted) == deleted+1
			})
			turnclienttest.WaitUntil(t, "the relayed port to close", func() bool { return portClosed(relayed) })
		})
	}
}

// TestConformanceStreamChannelDataPadding: over streams ChannelData is padded
// to a multiple of 4 in both directions — the relay reads padded frames
// packed into one segment and pads what it sends with zeros — and Send and
// Data indications work too (RFC 8656 §11.2, §11.3, §12.5).
func TestConformanceStreamChannelDataPadding(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	for _, transport := range streamTransports {
		t.Run(transport, func(t *testing.T) {
			c := dialStream(t, srv, transport)
			relayed := c.allocate()
			peer := newUDPPeerAt(t, "127.0.0.2:0")
			other := newUDPPeerAt(t, "127.0.0.2:0")
			requireCode(t, c.request(stunmsg.ChannelBind, channelBindReq(0x4000, peer.addr())), 0)

			var burst []byte
			for _, p := range []string{"hello", "abcd", "xyz", ""} {
				burst = append(burst, paddedChannelData(0x4000, []byte(p))...)
			}
			c.write(burst)
			for _, p := range []string{"hello", "abcd", "xyz", ""} {
				requirePeerGot(t, peer, p, relayed)
			}

			for _, p := range []string{"12345", "ab", "wxyz", ""} {
				peer.sendTo([]byte(p), relayed)
				want := paddedChannelData(0x4000, []byte(p))
				if f := c.mustReadFrame(); !bytes.Equal(f, want) {
					t.Fatalf("ChannelData frame % x, want % x (zero-padded)", f, want)
				}
			}

			c.write(c.creds.build(stunmsg.Send, stunmsg.Indication, newTxID(), false, func(b *stunmsg.Builder) {
				b.AddXORAddress(stunmsg.AttrXORPeerAddress, other.addr())
				b.Add(stunmsg.AttrData, []byte("odd"))
			}))
			requirePeerGot(t, other, "odd", relayed)
			other.sendTo([]byte("indication"), relayed)
			from, data := parseDataIndication(t, c.mustReadFrame())
			if from != other.addr() || string(data) != "indication" {
				t.Fatalf("Data indication from %s with %q", from, data)
			}
		})
	}
}

// TestConformanceStreamBadFrames: a frame that is neither STUN nor
// ChannelData, has a STUN Length that is not a multiple of 4, or exceeds
// the frame limit loses the framing, so the relay closes the connection —
// and deletes its allocation. A well-framed but malformed STUN message is
// only dropped (RFC 8489 §5, §6.3; RFC 8656 §12, §12.5).
func TestConformanceStreamBadFrames(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(c *Config) { c.TCPMaxFrame = 1024 })
	bigSTUN := make([]byte, 20)
	bigSTUN[2], bigSTUN[3] = 0x07, 0xD0 // Length 2000
	copy(bigSTUN[4:8], []byte{0x21, 0x12, 0xA4, 0x42})
	for _, transport := range streamTransports {
		for _, tc := range []struct {
			name string
			in   []byte
		}{
			{"RTP-like first byte", append([]byte{0x80, 0x60}, make([]byte, 30)...)},
			{"reserved channel 0x5000", channelDataRaw(0x5000, []byte("data"))},
			{"STUN Length not a multiple of 4", []byte{0x00, 0x01, 0x00, 0x03, 0x21, 0x12, 0xA4, 0x42}},
			{"STUN frame beyond the limit", bigSTUN},
			{"ChannelData beyond the limit", []byte{0x40, 0x00, 0x07, 0xD0}},
		} {
			t.Run(transport+"/"+tc.name, func(t *testing.T) {
				c := dialStream(t, srv, transport)
				relayed := c.allocate()
				before := takeDrops(srv)
				c.write(tc.in)
				c.requireClosed(3 * time.Second)
				before.requireDropped(t, srv, DropStreamFrame, 1)
				turnclienttest.WaitUntil(t, "the allocation to go with its connection", func() bool { return portClosed(relayed) })
			})
		}
		t.Run(transport+"/malformed STUN in a good frame", func(t *testing.T) {
			c := dialStream(t, srv, transport)
			bad := c.creds.build(stunmsg.Binding, stunmsg.Request, newTxID(), false, nil)
			bad[4] ^= 0xFF // magic cookie
			before := takeDrops(srv)
			c.write(bad)
			requireCode(t, c.roundTrip(c.creds.build(stunmsg.Binding, stunmsg.Request, newTxID(), false, nil)), 0)
			before.requireDropped(t, srv, DropMalformedSTUN, 1)
		})
	}
}

// TestConformanceStreamIdleTimeout: a connection without a frame for the
// idle timeout is closed; one that keeps sending is not.
func TestConformanceStreamIdleTimeout(t *testing.T) {
	t.Parallel()
	const idle = 500 * time.Millisecond
	srv := newTestServer(t, func(c *Config) { c.TCPIdleTimeout = idle })
	for _, transport := range streamTransports {
		t.Run(transport, func(t *testing.T) {
			quiet := dialStream(t, srv, transport)
			busy := dialStream(t, srv, transport)
			binding := func() []byte { return busy.creds.build(stunmsg.Binding, stunmsg.Request, newTxID(), false, nil) }
			requireCode(t, quiet.roundTrip(binding()), 0)
			start := time.Now()
			for time.Since(start) < 2*idle {
				requireCode(t, busy.roundTrip(binding()), 0)
				time.Sleep(idle / 10)
			}
			quiet.requireClosed(3 * time.Second)
			requireCode(t, busy.roundTrip(binding()), 0)
		})
	}
}

// TestConformanceStreamMaxConnections: beyond TCPMaxConnections new
// connections are closed at once, and a slot freed by a closed connection
// can be used again.
func TestConformanceStreamMaxConnections(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, func(c *Config) { c.TCPMaxConnections = 2 })
	binding := func(c *streamClient) []byte {
		return c.creds.build(stunmsg.Binding, stunmsg.Request, newTxID(), false, nil)
	}
	first, second := dialStream(t, srv, "tcp"), dialStream(t, srv, "tcp")
	requireCode(t, first.roundTrip(binding(first)), 0)
	requireCode(t, second.roundTrip(binding(second)), 0)
	third := dialStream(t, srv, "tcp")
	// The relay may already have closed it: a failed write is expected.
	third.conn.Write(binding(third))
	third.requireClosed(3 * time.Second)

	first.conn.Close()
	turnclienttest.WaitUntil(t, "a freed connection slot", func() bool {
		c := dialStream(t, srv, "tcp")
		defer c.conn.Close()
		if _, err := c.conn.Write(binding(c)); err != nil {
			return false
		}
		f, err := c.readFrame(time.Second)
		return err == nil && len(f) > 0
	})
}
