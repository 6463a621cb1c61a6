package relay

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/auth"
	"github.com/turnstile-relay/turnstile/internal/mono/monotest"
	"github.com/turnstile-relay/turnstile/internal/netio"
	"github.com/turnstile-relay/turnstile/internal/netio/netiotest"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
	"github.com/turnstile-relay/turnstile/peerpolicy"
)

// Tests on the in-memory network (netiotest) with the fake clock: the relay
// binds no socket and its timers move only when the test advances time, so
// lifetimes are checked exactly, without waiting for them.

// Addresses of the fake network (documentation ranges, never on the wire).
var (
	fakeListen  = netip.MustParseAddrPort("192.0.2.1:3478")
	fakeRelayIP = netip.MustParseAddr("198.51.100.1")
	fakeClient  = netip.MustParseAddrPort("10.0.0.1:0")
	fakePeer    = netip.MustParseAddrPort("203.0.113.7:0")
)

// fakeRelay is a relay on a fake network with a client and a peer there.
type fakeRelay struct {
	s       *Server
	network *netiotest.Network
	clock   *monotest.Clock
	client  *rawClient
	peer    *udpPeer
}

func newFakeRelay(t *testing.T, opts ...func(*Config)) *fakeRelay {
	t.Helper()
	creds, err := auth.NewCredentials(auth.CredentialsConfig{Realm: testRealm, Secrets: [][]byte{testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	peers, err := peerpolicy.New(peerpolicy.Config{Allow: []netip.Prefix{netip.PrefixFrom(fakePeer.Addr(), 24)}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRelay{network: netiotest.NewNetwork(), clock: monotest.New(time.Now())}
	cfg := Config{
		UDPListen:  []netip.AddrPort{fakeListen},
		Realm:      testRealm,
		RelayIPs:   []netip.Addr{fakeRelayIP},
		PortMin:    49152,
		PortMax:    65535,
		Allocation: allocation.Defaults,
		Policy:     &DefaultPolicy{Credentials: creds, Peers: peers},
		Workers:    1,
		Clock:      f.clock,
		Network:    f.network,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	f.s, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.s.Close() })
	f.client = newRawClientOn(t, fakeListen, f.listen(t, fakeClient))
	f.peer = &udpPeer{t: t, conn: f.listen(t, fakePeer), buf: make([]byte, 65536)}
	return f
}

func (f *fakeRelay) listen(t *testing.T, addr netip.AddrPort) *netiotest.PacketConn {
	t.Helper()
	c, err := f.network.ListenPacket(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dropsOf returns the relay's count of one drop reason.
func (f *fakeRelay) dropsOf(d Drop) uint64 { return f.s.Stats().Drops[d.String()] }

// expectDropped waits until the relay counted one more drop of reason d
// than before, and asserts the client got nothing meanwhile.
func (f *fakeRelay) expectDropped(t *testing.T, d Drop, before uint64) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); f.dropsOf(d) == before; {
		if b := f.client.recvRaw(10 * time.Millisecond); b != nil {
			t.Fatalf("client got %d bytes; want the datagram dropped as %s", len(b), d)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s drop counted", d)
		}
	}
}

// TestFakeNetworkChannelDataBothWays: an allocation on the fake network
// relays ChannelData to the peer from the relayed address, and the peer's
// answer back as ChannelData (RFC 8656 §12.6, §12.7).
func TestFakeNetworkChannelDataBothWays(t *testing.T) {
	f := newFakeRelay(t)
	relayed := f.client.allocate()
	if relayed.Addr() != fakeRelayIP {
		t.Fatalf("relayed address %v, want one on %v", relayed, fakeRelayIP)
	}
	peer := f.peer.addr()
	f.client.bind(0x4000, peer)
	f.client.sendRaw(channelData(0x4000, []byte("to the peer")))
	got, from, ok := f.peer.recv(3 * time.Second)
	if !ok || string(got) != "to the peer" || from != relayed {
		t.Fatalf("peer got %q from %v (%v); want \"to the peer\" from %v", got, from, ok, relayed)
	}
	f.peer.sendTo([]byte("to the client"), relayed)
	msg := f.client.recvRaw(3 * time.Second)
	ch, payload, ok := stunmsg.ParseChannelData(msg)
	if !ok || ch != 0x4000 || string(payload) != "to the client" {
		t.Fatalf("client got % x; want ChannelData 0x4000 \"to the client\"", msg)
	}
}

// TestFakeNetworkPermissionExpires: a permission lasts 300 s (RFC 8656 §9):
// a second before, the peer's datagram reaches the client as a Data
// indication; a second after, it is dropped; a new CreatePermission lets
// it through again.
func TestFakeNetworkPermissionExpires(t *testing.T) {
	f := newFakeRelay(t)
	relayed := f.client.allocate()
	peer := f.peer.addr()
	f.client.permit(peer)
	f.clock.Advance(299 * time.Second)
	f.peer.sendTo([]byte("still permitted"), relayed)
	if got := f.dataIndication(t); string(got) != "still permitted" {
		t.Fatalf("before expiry the client got %q", got)
	}
	f.clock.Advance(2 * time.Second)
	before := f.dropsOf(DropNoPermission)
	f.peer.sendTo([]byte("expired"), relayed)
	f.expectDropped(t, DropNoPermission, before)
	f.client.permit(peer)
	f.peer.sendTo([]byte("permitted again"), relayed)
	if got := f.dataIndication(t); string(got) != "permitted again" {
		t.Fatalf("after a new permission the client got %q", got)
	}
}

// dataIndication waits for a Data indication and returns its DATA.
func (f *fakeRelay) dataIndication(t *testing.T) []byte {
	t.Helper()
	var m stunmsg.Message
	b := f.client.recvRaw(3 * time.Second)
	if err := m.Parse(b); err != nil || m.Method != stunmsg.Data || m.Class != stunmsg.Indication {
		t.Fatalf("client got % x (%v); want a Data indication", b, err)
	}
	data, _ := m.Get(stunmsg.AttrData)
	return bytes.Clone(data)
}

// TestFakeNetworkForwardsICMP: an ICMP error on the relayed socket's error
// queue about a permitted peer reaches the client as a Data indication with
// an ICMP attribute and no DATA (RFC 8656 §11.5).
func TestFakeNetworkForwardsICMP(t *testing.T) {
	f := newFakeRelay(t)
	relayed := f.client.allocate()
	peer := f.peer.addr()
	f.client.permit(peer)
	if !f.network.InjectICMP(relayed, netiotest.PortUnreachable(peer)) {
		t.Fatalf("no relayed socket at %v", relayed)
	}
	var m stunmsg.Message
	b := f.client.recvRaw(3 * time.Second)
	if err := m.Parse(b); err != nil || m.Method != stunmsg.Data || m.Class != stunmsg.Indication {
		t.Fatalf("client got % x (%v); want a Data indication", b, err)
	}
	icmp, ok := m.Get(stunmsg.AttrICMP)
	if !ok || len(icmp) != 8 || icmp[2] != 3 || icmp[3] != 3 {
		t.Fatalf("ICMP attribute % x (%v); want type 3 code 3", icmp, ok)
	}
	if _, ok := m.Get(stunmsg.AttrData); ok {
		t.Fatal("an ICMP indication carries DATA")
	}
	if f.s.Stats().ICMPForwarded != 1 {
		t.Fatalf("ICMPForwarded %d, want 1", f.s.Stats().ICMPForwarded)
	}
}

// TestFakeNetworkAllocationExpiryClosesRelayedSocket: an allocation that is
// not refreshed ends at its lifetime (RFC 8656 §7.2: 600 s by default) and
// its relayed socket is closed, freeing the port; a second earlier it is
// still there.
func TestFakeNetworkAllocationExpiryClosesRelayedSocket(t *testing.T) {
	f := newFakeRelay(t)
	relayed := f.client.allocate()
	f.clock.Advance(allocation.Defaults.DefaultLifetime - time.Second)
	if !f.network.Bound(relayed) {
		t.Fatalf("relayed socket %v closed before the allocation's lifetime", relayed)
	}
	f.clock.Advance(2 * time.Second)
	if f.network.Bound(relayed) {
		t.Fatalf("relayed socket %v still bound after the allocation expired", relayed)
	}
	if n := f.s.Stats().Allocations.Allocations; n != 0 {
		t.Fatalf("%d allocations after expiry, want 0", n)
	}
}

// TestFakeNetworkFullSendBufferDrops: when the relayed socket has no room
// (the kernel's EAGAIN), the client's ChannelData is dropped and counted,
// and flows again once there is room.
func TestFakeNetworkFullSendBufferDrops(t *testing.T) {
	f := newFakeRelay(t)
	relayed := f.client.allocate()
	peer := f.peer.addr()
	f.client.bind(0x4001, peer)
	f.network.LimitSend(relayed, 0)
	before := f.dropsOf(DropSendFailed)
	f.client.sendRaw(channelData(0x4001, []byte("no room")))
	f.expectDropped(t, DropSendFailed, before)
	f.network.LimitSend(relayed, -1)
	f.client.sendRaw(channelData(0x4001, []byte("room again")))
	if got, _, ok := f.peer.recv(3 * time.Second); !ok || string(got) != "room again" {
		t.Fatalf("peer got %q (%v), want \"room again\"", got, ok)
	}
}

// TestFakeNetworkCutsCoalescedChannelData: ChannelData frames the client
// sends in one segmented send reach the relay's GRO listener as one message
// (as on loopback), and the relay cuts it and relays each frame to the peer
// in order.
func TestFakeNetworkCutsCoalescedChannelData(t *testing.T) {
	f := newFakeRelay(t)
	relayed := f.client.allocate()
	peer := f.peer.addr()
	f.client.bind(0x4002, peer)
	frames := [][]byte{
		channelData(0x4002, []byte("frame 1")),
		channelData(0x4002, []byte("frame 2")),
		channelData(0x4002, []byte("frame")),
	}
	var sc netio.SegmentScratch
	if err := f.client.conn.(*netiotest.PacketConn).Socket().SendSegments(frames, fakeListen, &sc); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"frame 1", "frame 2", "frame"} {
		got, from, ok := f.peer.recv(3 * time.Second)
		if !ok || string(got) != want || from != relayed {
			t.Fatalf("peer got %q from %v (%v); want %q from %v", got, from, ok, want, relayed)
		}
	}
}
