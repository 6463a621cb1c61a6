package relay

import (
	"bytes"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
)

// TestGatewayLeavesPlainPeersAlone: on a relay with gateway, an allocation
// that uses no resource relays to an ordinary peer exactly as a plain relay
// does — ChannelData to the peer and the peer's datagrams back allocate
// nothing per packet — and never touches its gateway state: no verdict is
// counted and the session's lock-free "engaged" flag stays clear, so the
// inbound path skips the allocation's gateway lock.
func TestGatewayLeavesPlainPeersAlone(t *testing.T) {
	srv := newTestServer(t, withGateway(t, loopbackResources, loopbackResolver()))
	c := newRawClient(t, srv.udp, "udp4")
	c.allocate()
	peer := newUDPPeer(t, "udp4")
	c.bind(hotChannel, peer.addr())
	ft := allocation.FiveTuple{Client: c.addr(), Server: srv.udp, Transport: allocation.TransportUDP}
	frame := channelData(hotChannel, bytes.Repeat([]byte{0xAB}, 100))

	var sd sender
	var cs counters
	srv.relayChannelData(ft, frame, mono.Now(), &sd, &cs, transportUDP)
	if got, _, ok := peer.recv(2 * time.Second); !ok || len(got) != 100 {
		t.Fatalf("peer did not receive the payload (ok=%v len=%d)", ok, len(got))
	}
	if allocs := testing.AllocsPerRun(1000, func() {
		srv.relayChannelData(ft, frame, mono.Now(), &sd, &cs, transportUDP)
	}); allocs != 0 {
		t.Fatalf("ChannelData → plain peer allocates %.1f times per packet with a gateway configured", allocs)
	}

	a := srv.table.Lookup(ft, mono.Now())
	sess := a.Ext.(*session)
	rs := sess.relay4
	if err := rs.owner.poller.Remove(rs.sock); err != nil {
		t.Fatal(err)
	}
	mine, err := newWorker(srv.Server, 99)
	if err != nil {
		t.Fatal(err)
	}
	defer mine.close()
	payload := bytes.Repeat([]byte{0xCD}, 100)
	if allocs := testing.AllocsPerRun(500, func() {
		peer.sendTo(payload, rs.public)
		mine.serveRelay(rs, false)
	}); allocs != 0 {
		t.Fatalf("plain peer → client allocates %.1f times per packet with a gateway configured", allocs)
	}
	if n := mine.c.packets[ToClient][transportUDP].Load(); n < 450 {
		t.Fatalf("only %d of 501 datagrams went through the measured path", n)
	}
	if got := c.recvRaw(2 * time.Second); len(got) != 104 || got[0] != 0x40 || got[1] != 0x01 {
		t.Fatalf("client got % x, want ChannelData on 0x4001", got[:min(len(got), 8)])
	}
	if sess.gw == nil || sess.gw.engaged.Load() {
		t.Fatalf("gateway session %v, want one that never engaged", sess.gw)
	}
	if v := srv.Stats().GatewayVerdicts; len(v) != 0 {
		t.Fatalf("verdicts counted for plain traffic: %v", v)
	}
}
