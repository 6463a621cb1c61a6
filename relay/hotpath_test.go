package relay

import (
	"bytes"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
)

// hotPathFixture is a live allocation with a channel bound to a loopback
// peer, set up through the real protocol.
type hotPathFixture struct {
	srv    *testServer
	client *rawClient
	peer   *udpPeer
	ft     allocation.FiveTuple
	frame  []byte
}

const hotChannel = 0x4001

func newHotPathFixture(t testing.TB, payload int) *hotPathFixture {
	srv := newTestServer(t)
	c := newRawClient(t, srv.udp, "udp4")
	c.allocate()
	peer := newUDPPeer(t, "udp4")
	c.bind(hotChannel, peer.addr())
	return &hotPathFixture{
		srv:    srv,
		client: c,
		peer:   peer,
		ft:     allocation.FiveTuple{Client: c.addr(), Server: srv.udp, Transport: allocation.TransportUDP},
		frame:  channelData(hotChannel, bytes.Repeat([]byte{0xAB}, payload)),
	}
}

// TestChannelDataToPeerAllocatesNothing proves the client → peer ChannelData
// path (5-tuple lookup, channel lookup, sendto from the relayed socket)
// allocates nothing per packet.
func TestChannelDataToPeerAllocatesNothing(t *testing.T) {
	f := newHotPathFixture(t, 100)
	var sd sender
	var c counters
	// Make sure the path really relays before measuring it.
	f.srv.relayChannelData(f.ft, f.frame, mono.Now(), &sd, &c, transportUDP)
	if got, _, ok := f.peer.recv(2 * time.Second); !ok || len(got) != 100 {
		t.Fatalf("peer did not receive the payload (ok=%v len=%d)", ok, len(got))
	}
	allocs := testing.AllocsPerRun(1000, func() {
		f.srv.relayChannelData(f.ft, f.frame, mono.Now(), &sd, &c, transportUDP)
	})
	if allocs != 0 {
		t.Fatalf("ChannelData → peer allocates %.1f times per packet", allocs)
	}
	if c.packets[ToPeer][transportUDP].Load() < 1000 {
		t.Fatalf("only %d packets relayed", c.packets[ToPeer][transportUDP].Load())
	}
}

// TestPeerToClientAllocatesNothing proves the peer → client path (receive
// batch on the relayed socket, permission and channel lookups, ChannelData
// header written in place, sendmmsg to the client) allocates nothing.
func TestPeerToClientAllocatesNothing(t *testing.T) {
	f := newHotPathFixture(t, 100)
	a := f.srv.table.Lookup(f.ft, mono.Now())
	sess := a.Ext.(*session)
	rs := sess.relay4
	// Take the socket away from its running loop and serve it by hand from
	// a private worker, so the measurement sees every datagram.
	if err := rs.owner.poller.Remove(rs.sock); err != nil {
		t.Fatal(err)
	}
	mine, err := newWorker(f.srv.Server, 99)
	if err != nil {
		t.Fatal(err)
	}
	defer mine.close()
	payload := bytes.Repeat([]byte{0xCD}, 100)
	allocs := testing.AllocsPerRun(500, func() {
		f.peer.sendTo(payload, rs.public)
		mine.serveRelay(rs, false)
	})
	// The peer's own send (a Go net call) allocates nothing either, but the
	// measurement covers it; any allocation means the relay path allocates.
	if allocs != 0 {
		t.Fatalf("peer → client allocates %.1f times per packet", allocs)
	}
	if n := mine.c.packets[ToClient][transportUDP].Load(); n < 450 {
		t.Fatalf("only %d of 501 datagrams went through the measured path", n)
	}
	// And they reached the client as ChannelData on the bound channel.
	got := f.client.recvRaw(2 * time.Second)
	if len(got) != 104 || got[0] != 0x40 || got[1] != 0x01 {
		t.Fatalf("client got % x, want ChannelData on 0x4001", got[:min(len(got), 8)])
	}
}

// drain reads and discards everything arriving on conn until the test ends,
// so socket buffers never fill during benchmarks.
func drain(tb testing.TB, read func([]byte) error) {
	done := make(chan struct{})
	tb.Cleanup(func() { close(done) })
	go func() {
		buf := make([]byte, 65536)
		for {
			select {
			case <-done:
				return
			default:
			}
			if read(buf) != nil {
				return
			}
		}
	}()
}

// BenchmarkChannelDataToPeer measures the client → peer path per 100-byte
// ChannelData datagram, including the sendto system call.
func BenchmarkChannelDataToPeer(b *testing.B) {
	f := newHotPathFixture(b, 100)
	drain(b, func(p []byte) error { _, _, err := f.peer.conn.ReadFromUDPAddrPort(p); return err })
	var sd sender
	var c counters
	b.ReportAllocs()
	b.SetBytes(100)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.srv.relayChannelData(f.ft, f.frame, mono.Now(), &sd, &c, transportUDP)
	}
}

// BenchmarkChannelDataToPeerBatched measures the client → peer path as the
// worker runs it for a receive batch: 32 ChannelData datagrams of one
// allocation queued in the outbox and sent as one segmented send (UDP GSO).
func BenchmarkChannelDataToPeerBatched(b *testing.B) {
	f := newHotPathFixture(b, 100)
	drain(b, func(p []byte) error { _, _, err := f.peer.conn.ReadFromUDPAddrPort(p); return err })
	var c counters
	sd := sender{out: newOutbox(&c)}
	b.ReportAllocs()
	b.SetBytes(100)
	b.ResetTimer()
	for i := 0; i < b.N; i += batchSize {
		for j := 0; j < batchSize; j++ {
			f.srv.relayChannelData(f.ft, f.frame, mono.Now(), &sd, &c, transportUDP)
		}
		sd.out.flush()
	}
}

// BenchmarkPeerToClient measures the peer → client path per datagram: a
// batch of 32 datagrams received with one recvmmsg, framed in place as
// ChannelData and sent to the client as one segmented send (UDP GSO). The
// peer's sends are part of the loop but excluded from the timing.
func BenchmarkPeerToClient(b *testing.B) {
	f := newHotPathFixture(b, 100)
	a := f.srv.table.Lookup(f.ft, mono.Now())
	rs := a.Ext.(*session).relay4
	if err := rs.owner.poller.Remove(rs.sock); err != nil {
		b.Fatal(err)
	}
	mine, err := newWorker(f.srv.Server, 99)
	if err != nil {
		b.Fatal(err)
	}
	defer mine.close()
	drain(b, func(p []byte) error { _, _, err := f.client.conn.ReadFromUDPAddrPort(p); return err })
	payload := bytes.Repeat([]byte{0xCD}, 100)
	b.ReportAllocs()
	b.SetBytes(100)
	b.ResetTimer()
	for i := 0; i < b.N; i += batchSize {
		b.StopTimer()
		for j := 0; j < batchSize; j++ {
			f.peer.sendTo(payload, rs.public)
		}
		b.StartTimer()
		mine.serveRelay(rs, false)
	}
}
