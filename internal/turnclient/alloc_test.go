package turnclient

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// allocFixture is a client with an allocation and a permission for a
// loopback peer that never answers (so nothing but the measured code runs
// while allocations are counted).
func allocFixture(t testing.TB) (*Client, netip.AddrPort) {
	tr := startRelay(t)
	c := tr.dialRelay(t, UDP)
	if _, err := c.Allocate(AllocateOptions{}); err != nil {
		t.Fatal(err)
	}
	sink, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	peer := sink.LocalAddr().(*net.UDPAddr).AddrPort()
	if err := c.CreatePermission(peer.Addr()); err != nil {
		t.Fatal(err)
	}
	return c, peer
}

// TestSendAllocatesNothing: Send indications and ChannelData cost no heap
// allocation per message once the write buffer has grown.
func TestSendAllocatesNothing(t *testing.T) {
	c, peer := allocFixture(t)
	payload := bytes.Repeat([]byte{1}, 200)
	if a := testing.AllocsPerRun(200, func() {
		if err := c.SendIndication(peer, payload, false); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Fatalf("SendIndication allocates %.1f times", a)
	}
	if err := c.BindChannel(0x4000, peer); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(200, func() {
		if err := c.Send(peer, payload); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Fatalf("Send over a channel allocates %.1f times", a)
	}
}

// TestReceivePathAllocatesNothing: decoding a Data indication, an ICMP
// indication and ChannelData on the reader's side, queueing them and taking
// them out with Receive allocates nothing.
func TestReceivePathAllocatesNothing(t *testing.T) {
	c, peer := allocFixture(t)
	if err := c.BindChannel(0x4000, peer); err != nil {
		t.Fatal(err)
	}
	msgs := [][]byte{
		dataIndication(t, peer, bytes.Repeat([]byte{2}, 200)),
		indication(t, stunmsg.Data, stunmsg.Indication, func(b *stunmsg.Builder) {
			b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
			b.AddICMP(3, 3, 0)
		}),
		append([]byte{0x40, 0x00, 0x00, 0x03}, 'a', 'b', 'c'),
	}
	var m stunmsg.Message
	buf := make([]byte, 2048)
	ctx := context.Background()
	// Grow the ring's buffers first.
	for range c.cfg.QueueLength {
		c.handle(&m, msgs[0])
	}
	for range c.cfg.QueueLength {
		c.Receive(ctx, buf)
	}
	a := testing.AllocsPerRun(300, func() {
		for _, msg := range msgs {
			c.handle(&m, msg)
			if _, err := c.Receive(ctx, buf); err != nil {
				t.Fatal(err)
			}
		}
	})
	if a != 0 {
		t.Fatalf("the receive path allocates %.1f times per three messages", a)
	}
}

// BenchmarkSendIndication measures one 200-byte Send indication to the
// relay over UDP.
func BenchmarkSendIndication(b *testing.B) {
	c, peer := allocFixture(b)
	payload := bytes.Repeat([]byte{1}, 200)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if err := c.SendIndication(peer, payload, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReceiveDataIndication measures decoding, queueing and receiving
// one 200-byte Data indication (no socket involved).
func BenchmarkReceiveDataIndication(b *testing.B) {
	c, peer := allocFixture(b)
	msg := dataIndication(b, peer, bytes.Repeat([]byte{2}, 200))
	var m stunmsg.Message
	buf := make([]byte, 2048)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(200)
	for b.Loop() {
		c.handle(&m, msg)
		if _, err := c.Receive(ctx, buf); err != nil {
			b.Fatal(err)
		}
	}
}
