package relay

import (
	"bytes"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/turnclient/turnclienttest"
)

// TestStatsMoveWithTraffic checks that the counters move live: requests by
// method and result, relayed packets and bytes by direction, drops by reason.
func TestStatsMoveWithTraffic(t *testing.T) {
	f := newHotPathFixture(t, 100)
	before := f.srv.Stats()
	f.client.sendRaw(f.frame)
	if _, _, ok := f.peer.recv(2 * time.Second); !ok {
		t.Fatal("peer got nothing")
	}
	f.peer.sendTo(bytes.Repeat([]byte{1}, 50), f.client.allocatedRelay(t))
	if got := f.client.recvRaw(2 * time.Second); got == nil {
		t.Fatal("client got nothing")
	}
	f.client.sendRaw(channelData(0x4ABC, []byte("unbound")))
	var after Stats
	turnclienttest.WaitUntil(t, "the channel_unbound drop", func() bool {
		after = f.srv.Stats()
		return after.Drops["channel_unbound"] > before.Drops["channel_unbound"]
	})
	if d := after.Packets["to_peer"]["udp"] - before.Packets["to_peer"]["udp"]; d != 1 {
		t.Errorf("to_peer packets moved by %d, want 1", d)
	}
	if d := after.Bytes["to_peer"]["udp"] - before.Bytes["to_peer"]["udp"]; d != 100 {
		t.Errorf("to_peer bytes moved by %d, want 100", d)
	}
	if d := after.Packets["to_client"]["udp"] - before.Packets["to_client"]["udp"]; d != 1 {
		t.Errorf("to_client packets moved by %d, want 1", d)
	}
	if d := after.Drops["channel_unbound"] - before.Drops["channel_unbound"]; d != 1 {
		t.Errorf("channel_unbound drops moved by %d, want 1", d)
	}
	if after.Requests["allocate"]["success"] < 1 || after.Requests["channel_bind"]["success"] < 1 {
		t.Errorf("requests not counted: %v", after.Requests)
	}
	if after.Requests["allocate"]["401"] < 1 {
		t.Errorf("the 401 challenge was not counted: %v", after.Requests["allocate"])
	}
	if after.Allocations.Allocations != 1 || after.Allocations.Channels.IPv4 != 1 {
		t.Errorf("gauges: %+v", after.Allocations)
	}
}
