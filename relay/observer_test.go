package relay

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/mono/monotest"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// recordingObserver is an Observer that writes down what it is told, with
// the time, and reports fixed relayed counts.
type recordingObserver struct {
	mu     sync.Mutex
	events []string
}

func (o *recordingObserver) BindingUsable(b Binding, now mono.Time) {
	o.add(fmt.Sprintf("usable %#x %v relayed=%v until %v at %v", b.Channel, b.Peer, b.Relayed.IsValid(), b.Expires, now))
}

func (o *recordingObserver) BindingUnusable(b Binding, why Unusable, now mono.Time) {
	o.add(fmt.Sprintf("unusable %#x %v %s at %v", b.Channel, b.Peer, why, now))
}

func (o *recordingObserver) Relayed(dir Direction, t allocation.Transport) (uint64, uint64) {
	if dir == ToClient && t == allocation.TransportUDP {
		return 7, 700
	}
	return 0, 0
}

func (o *recordingObserver) AddCounts(out map[string]map[string]uint64) {
	out["passed"] = map[string]uint64{"miss": 3}
}

func (o *recordingObserver) add(e string) {
	o.mu.Lock()
	o.events = append(o.events, e)
	o.mu.Unlock()
}

// take returns the events since the last take.
func (o *recordingObserver) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.events
	o.events = nil
	return out
}

// TestObserverHearsRefreshes: a ChannelBind or CreatePermission that moves
// a usable binding's deadline tells the observer the new Expires (the XDP
// maps enforce it in the kernel), and the binding ends at the last one.
func TestObserverHearsRefreshes(t *testing.T) {
	clock := monotest.New(time.Now())
	obs := &recordingObserver{}
	srv := newTestServer(t, withClock(clock), func(c *Config) { c.Observer = obs })
	t0 := clock.Now()
	at := func(d time.Duration) mono.Time { return t0.Add(d) }
	want := func(step string, events ...string) {
		t.Helper()
		if got := obs.take(); fmt.Sprint(got) != fmt.Sprint(events) {
			t.Fatalf("%s: observer heard %q, want %q", step, got, events)
		}
	}
	c := newRawClient(t, srv.udp, "udp4")
	requireCode(t, c.allocateWith(lifetimeAttr(3600)), 0)
	peer := netip.MustParseAddrPort("127.0.0.2:5000")
	c.bind(0x4000, peer)
	want("ChannelBind", fmt.Sprintf("usable 0x4000 %v relayed=true until %v at %v", peer, at(300*time.Second), t0))
	clock.Advance(100 * time.Second)
	c.bind(0x4000, peer) // refreshes the permission to 400 s and the channel to 700 s
	want("ChannelBind refresh", fmt.Sprintf("usable 0x4000 %v relayed=true until %v at %v", peer, at(400*time.Second), at(100*time.Second)))
	clock.Advance(100 * time.Second)
	c.permit(peer)
	want("CreatePermission refresh", fmt.Sprintf("usable 0x4000 %v relayed=true until %v at %v", peer, at(500*time.Second), at(200*time.Second)))
	clock.Advance(300*time.Second - time.Nanosecond)
	want("before the refreshed deadline")
	clock.Advance(time.Nanosecond)
	want("refreshed permission expiry", fmt.Sprintf("unusable 0x4000 %v permission_expired at %v", peer, at(500*time.Second)))
}

// TestObserverFollowsBindings: the observer hears that a binding is usable
// when ChannelBind succeeds, with the client's 5-tuple and the relayed
// socket; that it stops being usable exactly at the deadline of its
// permission (300 s, RFC 8656 §9) and of its channel (600 s, §12), found
// by the relay's one housekeeping timer; that a CreatePermission makes it
// usable again while the channel lives; and that it ends with the
// allocation, deleted or expired. Its relayed counts join Stats.
func TestObserverFollowsBindings(t *testing.T) {
	clock := monotest.New(time.Now())
	obs := &recordingObserver{}
	srv := newTestServer(t, withClock(clock), func(c *Config) { c.Observer = obs })
	t0 := clock.Now()
	want := func(step string, events ...string) {
		t.Helper()
		got := obs.take()
		if fmt.Sprint(got) != fmt.Sprint(events) {
			t.Fatalf("%s: observer heard %q, want %q", step, got, events)
		}
	}
	at := func(d time.Duration) mono.Time { return t0.Add(d) }

	c := newRawClient(t, srv.udp, "udp4")
	requireCode(t, c.allocateWith(lifetimeAttr(3600)), 0)
	peer := netip.MustParseAddrPort("127.0.0.2:5000")
	c.bind(0x4000, peer)
	want("ChannelBind", fmt.Sprintf("usable 0x4000 %v relayed=true until %v at %v", peer, at(300*time.Second), t0))
	b := c.fiveTuple()
	if got := lookupAllocation(srv, b).Ext.(*session).watched[0x4000]; got == nil || got.sess.client.ft != b {
		t.Fatalf("the binding is not watched for the client's 5-tuple %v", b)
	}
	c.bind(0x4000, peer) // a refresh that moves no deadline tells nothing
	want("refresh")

	clock.Advance(300*time.Second - time.Nanosecond)
	want("just before the permission's deadline")
	clock.Advance(time.Nanosecond)
	want("permission expiry", fmt.Sprintf("unusable 0x4000 %v permission_expired at %v", peer, at(300*time.Second)))

	clock.Advance(100 * time.Second)
	c.permit(peer)
	want("CreatePermission", fmt.Sprintf("usable 0x4000 %v relayed=true until %v at %v", peer, at(600*time.Second), at(400*time.Second)))
	clock.Advance(200*time.Second - time.Nanosecond)
	want("just before the channel's deadline")
	clock.Advance(time.Nanosecond)
	want("channel expiry", fmt.Sprintf("unusable 0x4000 %v channel_expired at %v", peer, at(600*time.Second)))

	c.bind(0x4000, peer)
	want("bind again", fmt.Sprintf("usable 0x4000 %v relayed=true until %v at %v", peer, at(900*time.Second), at(600*time.Second)))
	requireCode(t, c.request(stunmsg.Refresh, func(b *stunmsg.Builder) { b.AddUint32(stunmsg.AttrLifetime, 0) }), 0)
	want("Refresh 0", fmt.Sprintf("unusable 0x4000 %v allocation_deleted at %v", peer, at(600*time.Second)))

	// An allocation's lifetime is at least 600 s (allocation.Config); its
	// binding is refreshed past the allocation's end so that the
	// allocation's expiry is what ends it.
	c2 := newRawClient(t, srv.udp, "udp4")
	requireCode(t, c2.allocateWith(lifetimeAttr(600)), 0)
	c2.bind(0x4001, peer)
	want("second allocation", fmt.Sprintf("usable 0x4001 %v relayed=true until %v at %v", peer, at(900*time.Second), at(600*time.Second)))
	clock.Advance(400 * time.Second)
	want("its permission", fmt.Sprintf("unusable 0x4001 %v permission_expired at %v", peer, at(900*time.Second)))
	c2.bind(0x4001, peer)
	want("bound again", fmt.Sprintf("usable 0x4001 %v relayed=true until %v at %v", peer, at(1300*time.Second), at(1000*time.Second)))
	clock.Advance(200 * time.Second)
	want("allocation expiry", fmt.Sprintf("unusable 0x4001 %v allocation_expired at %v", peer, at(1200*time.Second)))

	st := srv.Stats()
	if st.Packets["to_client"]["udp"] != 7 || st.Bytes["to_client"]["udp"] != 700 {
		t.Fatalf("Stats to_client udp %d packets %d bytes, want the observer's 7 and 700", st.Packets["to_client"]["udp"], st.Bytes["to_client"]["udp"])
	}
	if st.OffloadedPackets["to_client"]["udp"] != 7 || st.OffloadedBytes["to_client"]["udp"] != 700 || st.OffloadedPackets["to_peer"]["udp"] != 0 {
		t.Fatalf("Stats offloaded packets %v bytes %v, want the observer's to_client udp 7 and 700", st.OffloadedPackets, st.OffloadedBytes)
	}
	if st.ObserverCounts["passed"]["miss"] != 3 {
		t.Fatalf("Stats.ObserverCounts %v, want the observer's passed miss 3", st.ObserverCounts)
	}
	if n := clock.Pending(); n != 1 {
		t.Fatalf("%d timers armed, want the relay's one", n)
	}
}
