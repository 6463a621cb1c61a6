package relay

import (
	"bytes"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/turnclient/turnclienttest"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/mono/monotest"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// stubExtension is a scriptable Extension: its answers are set per peer
// address by the test, and it records what the relay asked. Unscripted
// addresses get the neutral answers (no opinion, pass).
type stubExtension struct {
	mu        sync.Mutex
	admitErr  error
	permits   map[netip.Addr]PeerVerdict
	outbounds map[netip.AddrPort]OutboundVerdict
	inbounds  map[netip.AddrPort]InboundVerdict
	connects  map[netip.AddrPort]ConnectVerdict
	accepts   map[netip.Addr]PeerVerdict
	// onOutbound runs for every scripted outbound verdict, with the
	// relay's Client (an extension answering the client).
	onOutbound func(c Client, peer netip.AddrPort)
	next       mono.Time // the deadline Sweep reports; 0 for none
	sweeps     []mono.Time
	lanes      int

	outboundCalls atomic.Int64
	inboundCalls  atomic.Int64
	closed        atomic.Int64
}

func newStubExtension() *stubExtension {
	return &stubExtension{
		permits:   map[netip.Addr]PeerVerdict{},
		outbounds: map[netip.AddrPort]OutboundVerdict{},
		inbounds:  map[netip.AddrPort]InboundVerdict{},
		connects:  map[netip.AddrPort]ConnectVerdict{},
		accepts:   map[netip.Addr]PeerVerdict{},
	}
}

func withExtension(x Extension) serverOption { return func(c *Config) { c.Extension = x } }

func (x *stubExtension) Start(lanes int) { x.lanes = lanes }

func (x *stubExtension) Admit(string, allocation.FiveTuple, mono.Time) (AllocationExtension, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.admitErr != nil {
		return nil, x.admitErr
	}
	return (*stubAllocation)(x), nil
}

func (x *stubExtension) Sweep(now mono.Time) (mono.Time, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.sweeps = append(x.sweeps, now)
	return x.next, x.next != 0
}

func (x *stubExtension) Close() {}

func (x *stubExtension) AddCounts(out map[string]map[string]uint64) {
	if n := x.outboundCalls.Load(); n > 0 {
		out["stub"] = map[string]uint64{"outbound": uint64(n)}
	}
}

// stubAllocation is the stub's per-allocation state: the stub itself.
type stubAllocation stubExtension

func (a *stubAllocation) Permit(peer netip.AddrPort, _ bool, _ mono.Time) PeerVerdict {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.permits[peer.Addr()]
}

func (a *stubAllocation) Outbound(c Client, peer netip.AddrPort, _ []byte, _ mono.Time, _ int) OutboundVerdict {
	a.outboundCalls.Add(1)
	a.mu.Lock()
	v, ok := a.outbounds[peer]
	on := a.onOutbound
	a.mu.Unlock()
	if ok && on != nil {
		on(c, peer)
	}
	return v
}

func (a *stubAllocation) Inbound(src netip.AddrPort, _ mono.Time, _ int) InboundVerdict {
	a.inboundCalls.Add(1)
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inbounds[src]
}

func (a *stubAllocation) InboundICMP(quoted netip.AddrPort, _ ICMP, now mono.Time, lane int) InboundVerdict {
	return a.Inbound(quoted, now, lane)
}

func (a *stubAllocation) Connect(peer netip.AddrPort, _ mono.Time) ConnectVerdict {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.connects[peer]
}

func (a *stubAllocation) AcceptPeer(src netip.AddrPort, _ mono.Time) PeerVerdict {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.accepts[src.Addr()]
}

func (a *stubAllocation) Closed(mono.Time) { a.closed.Add(1) }

// TestExtensionHotPathAllocatesNothing: with an extension that passes
// every datagram, both directions of the ChannelData path still allocate
// nothing, and the extension does see every datagram.
func TestExtensionHotPathAllocatesNothing(t *testing.T) {
	x := newStubExtension()
	srv := newTestServer(t, withExtension(x))
	c := newRawClient(t, srv.udp, "udp4")
	c.allocate()
	peer := newUDPPeer(t, "udp4")
	c.bind(hotChannel, peer.addr())
	ft := c.fiveTuple()
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
		t.Fatalf("ChannelData → peer allocates %.1f times per packet with an extension", allocs)
	}
	if n := x.outboundCalls.Load(); n < 1001 {
		t.Fatalf("the extension saw %d of 1002 outbound datagrams", n)
	}

	rs := lookupAllocation(srv, ft).Ext.(*session).relay4
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
		t.Fatalf("peer → client allocates %.1f times per packet with an extension", allocs)
	}
	if n := x.inboundCalls.Load(); n < 450 {
		t.Fatalf("the extension saw %d of 501 inbound datagrams", n)
	}
	if x.lanes != srv.cfg.Workers+1 {
		t.Fatalf("Start got %d lanes, want %d (the workers and one more)", x.lanes, srv.cfg.Workers+1)
	}
}

// TestExtensionPeerPath: the relay does what the extension answers. A
// datagram to a peer the extension redirects goes to the other address; a
// consumed one goes nowhere, and the answer the extension gives through
// the Client reaches the client as data or ICMP from the peer the client
// used; a datagram from a peer the extension shows as another arrives from
// that one, and a dropped one does not arrive. Every verdict is applied
// after the relay's own permission check.
func TestExtensionPeerPath(t *testing.T) {
	x := newStubExtension()
	srv := newTestServer(t, withExtension(x))
	c := newRawClient(t, srv.udp, "udp4")
	relayed := c.allocate()
	shown, real, answering := newUDPPeer(t, "udp4"), newUDPPeer(t, "udp4"), newUDPPeer(t, "udp4")
	c.permit(shown.addr(), answering.addr())
	x.mu.Lock()
	x.outbounds[shown.addr()] = OutboundVerdict{Action: OutboundSend, To: real.addr()}
	x.outbounds[answering.addr()] = OutboundVerdict{Action: OutboundConsumed}
	x.inbounds[real.addr()] = InboundVerdict{Action: InboundDeliver, As: shown.addr()}
	x.inbounds[answering.addr()] = InboundVerdict{Action: InboundDrop}
	x.onOutbound = func(cl Client, peer netip.AddrPort) {
		if peer == answering.addr() {
			cl.DeliverData(peer, []byte("answer"))
			cl.DeliverICMP(peer, ICMP{Type: 3, Code: 13})
		}
	}
	x.mu.Unlock()

	c.sendIndication(shown.addr(), []byte("to real"), nil)
	if got, from := real.mustRecv(); string(got) != "to real" || from != relayed {
		t.Fatalf("redirected peer got %q from %v, want %q from %v", got, from, "to real", relayed)
	}
	shown.expectNothing()

	real.sendTo([]byte("reply"), relayed)
	if peer, data := parseDataIndication(t, c.recvFromPeer()); peer != shown.addr() || string(data) != "reply" {
		t.Fatalf("client got %q from %v, want %q from %v", data, peer, "reply", shown.addr())
	}

	c.sendIndication(answering.addr(), []byte("query"), nil)
	answering.expectNothing()
	if peer, data := parseDataIndication(t, c.recvFromPeer()); peer != answering.addr() || string(data) != "answer" {
		t.Fatalf("client got %q from %v, want the extension's answer from %v", data, peer, answering.addr())
	}
	var m stunmsg.Message
	if b := c.recvFromPeer(); m.Parse(b) != nil || m.Method != stunmsg.Data || !m.Contains(stunmsg.AttrICMP) {
		t.Fatalf("client got % x, want a Data indication with ICMP", b[:min(len(b), 16)])
	}
	answering.sendTo([]byte("dropped"), relayed)
	c.confirmNothingElse()

	// No permission, no hook: the relay's check comes first (permissions
	// are per IP, RFC 8656 §9, so this peer needs an IP of its own).
	other := newUDPPeerAt(t, "127.0.0.2:0")
	x.mu.Lock()
	x.outbounds[other.addr()] = OutboundVerdict{Action: OutboundSend, To: real.addr()}
	x.mu.Unlock()
	c.sendIndication(other.addr(), []byte("no permission"), nil)
	turnclienttest.WaitUntil(t, "the indication to be dropped", func() bool { return dropsOf(srv, DropNoPermission) > 0 })
	real.expectNothing()
}

// TestExtensionDecidesPeersAndAllocations: Permit's answers override the
// Policy both ways (an address the Policy denies is allowed, one it allows
// is refused with 403 and the extension's reason counted as a peer
// denial), no opinion leaves the Policy in charge; Admit's refusal
// chooses the Allocate's error code; Closed runs when the allocation ends;
// the extension's counters appear in Stats.
func TestExtensionDecidesPeersAndAllocations(t *testing.T) {
	x := newStubExtension()
	srv := newTestServer(t, withExtension(x))
	c := newRawClient(t, srv.udp, "udp4")
	c.allocate()
	private := netip.MustParseAddrPort("10.1.2.3:5000") // denied by the test Policy
	refused := newUDPPeer(t, "udp4").addr()             // allowed by it
	x.mu.Lock()
	x.permits[private.Addr()] = PeerVerdict{Decision: PermitAllow}
	x.permits[refused.Addr()] = PeerVerdict{Decision: PermitForbid, Reason: "stub_refused"}
	x.mu.Unlock()
	c.permit(private)
	c.bind(0x4001, private)
	for _, method := range []stunmsg.Method{stunmsg.CreatePermission, stunmsg.ChannelBind} {
		r := c.request(method, func(b *stunmsg.Builder) {
			if method == stunmsg.ChannelBind {
				b.AddChannelNumber(0x4002)
			}
			b.AddXORAddress(stunmsg.AttrXORPeerAddress, refused)
		})
		requireCode(t, r, 403)
	}
	if n := srv.Stats().PeerDenials["stub_refused"]; n != 2 {
		t.Fatalf("peer denials %v, want stub_refused counted twice", srv.Stats().PeerDenials)
	}
	r := c.request(stunmsg.CreatePermission, func(b *stunmsg.Builder) {
		b.AddXORAddress(stunmsg.AttrXORPeerAddress, netip.MustParseAddrPort("10.9.9.9:1"))
	})
	requireCode(t, r, 403) // no opinion: the Policy denies private addresses

	c.sendIndication(private, []byte("x"), nil)
	turnclienttest.WaitUntil(t, "the extension's counters", func() bool { return srv.Stats().ExtensionCounts["stub"]["outbound"] > 0 })

	r = c.request(stunmsg.Refresh, func(b *stunmsg.Builder) { b.AddUint32(stunmsg.AttrLifetime, 0) })
	requireCode(t, r, 0)
	if n := x.closed.Load(); n != 1 {
		t.Fatalf("Closed ran %d times after the allocation was deleted, want 1", n)
	}

	x.mu.Lock()
	x.admitErr = &Refusal{Code: 486, Reason: "stub_quota"}
	x.mu.Unlock()
	c2 := newRawClient(t, srv.udp, "udp4")
	requireCode(t, c2.allocateWith(nil), 486)
	if lookupAllocation(srv, c2.fiveTuple()) != nil {
		t.Fatal("a refused Allocate left an allocation")
	}
}

// TestExtensionSweepsFromHousekeeping: the relay's one housekeeping timer
// calls Sweep with the current time and runs again exactly at the deadline
// Sweep reports, even between its once-a-second runs; the extension needs
// no timer of its own.
func TestExtensionSweepsFromHousekeeping(t *testing.T) {
	clock := monotest.New(time.Now())
	x := newStubExtension()
	start := clock.Now()
	x.next = start.Add(1500 * time.Millisecond)
	newTestServer(t, withClock(clock), withExtension(x))
	clock.Advance(time.Second) // the first run reports x.next
	clock.Advance(500*time.Millisecond - time.Nanosecond)
	x.mu.Lock()
	early := len(x.sweeps)
	x.mu.Unlock()
	clock.Advance(time.Nanosecond)
	x.mu.Lock()
	defer x.mu.Unlock()
	if early != 1 || len(x.sweeps) != 2 || x.sweeps[0] != start.Add(time.Second) || x.sweeps[1] != x.next {
		t.Fatalf("sweeps at %v (%d before the deadline), want at %v and at the deadline %v", x.sweeps, early, start.Add(time.Second), x.next)
	}
	if n := clock.Pending(); n != 1 {
		t.Fatalf("%d timers armed, want the relay's one", n)
	}
}
