package xdp

import (
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/relay"
)

func udpBinding(client netip.AddrPort, ch uint16, peer, relayed netip.AddrPort, expires mono.Time) relay.Binding {
	return relay.Binding{
		Client:  allocation.FiveTuple{Client: client, Server: listener4, Transport: allocation.TransportUDP},
		Channel: ch, Peer: peer, Relayed: relayed, Expires: expires,
	}
}

// lookupChannel returns the channel map's value for b, if any.
func lookupChannel(t *testing.T, m *ebpf.Map, b relay.Binding) (relayChannelValue, bool) {
	t.Helper()
	e := bindingEntry(b, 0)
	var v relayChannelValue
	if err := m.Lookup(&e.chanKey, &v); err != nil {
		return v, false
	}
	return v, true
}

// TestOffloadFollowsTheObserver: a usable binding is in both maps when
// BindingUsable returns, with the kernel-clock deadline of its Expires; a
// refresh moves the deadline; unusable removes it; a full map leaves the
// binding out and counts it, evicting nothing; Close removes what is left.
func TestOffloadFollowsTheObserver(t *testing.T) {
	p := requireBPF(t, ProgramConfig{ListenPorts: []uint16{3478}, ChannelMax: 0x4FFF, MaxBindings: 2})
	channels, err := p.objs.Channels.Clone()
	if err != nil {
		t.Fatal(err)
	}
	defer channels.Close()
	peers, err := p.objs.Peers.Clone()
	if err != nil {
		t.Fatal(err)
	}
	defer peers.Close()
	o := newOffload(p, slog.New(slog.DiscardHandler))

	now := mono.Time(1000 * time.Second)
	a := udpBinding(client4, 0x4001, peer4, relayed4, now.Add(300*time.Second))
	before := monotonicNow()
	o.BindingUsable(a, now)
	after := monotonicNow()
	v, ok := lookupChannel(t, channels, a)
	if !ok {
		t.Fatal("binding not installed when BindingUsable returned")
	}
	if lo, hi := before+uint64(300*time.Second), after+uint64(300*time.Second); v.ExpiresNs < lo || v.ExpiresNs > hi {
		t.Fatalf("expiry %d outside [%d, %d]", v.ExpiresNs, lo, hi)
	}
	if n := countEntries(t, peers); n != 1 {
		t.Fatalf("%d peer entries, want 1", n)
	}

	a.Expires = now.Add(500 * time.Second)
	o.BindingUsable(a, now)
	if v2, _ := lookupChannel(t, channels, a); v2.ExpiresNs < v.ExpiresNs+uint64(200*time.Second) {
		t.Fatalf("refresh: expiry %d, want 200 s past %d", v2.ExpiresNs, v.ExpiresNs)
	}

	b := udpBinding(client4, 0x4002, netip.MustParseAddrPort("198.51.100.8:1"), relayed4, now.Add(time.Minute))
	c := udpBinding(client4, 0x4003, netip.MustParseAddrPort("198.51.100.9:1"), relayed4, now.Add(time.Minute))
	o.BindingUsable(b, now)
	o.BindingUsable(c, now) // the maps hold 2
	if _, ok := lookupChannel(t, channels, c); ok {
		t.Fatal("a binding past max_entries was installed")
	}
	for _, x := range []relay.Binding{a, b} {
		if _, ok := lookupChannel(t, channels, x); !ok {
			t.Fatalf("channel %#x evicted by a binding that did not fit", x.Channel)
		}
	}
	if got := o.NotOffloadedCounts()["map_full"]; got != 1 {
		t.Fatalf("map_full %d, want 1", got)
	}

	tcp := a
	tcp.Client.Transport = allocation.TransportTCP
	tcp.Channel = 0x4009
	o.BindingUsable(tcp, now)
	if got := o.NotOffloadedCounts()["transport"]; got != 1 {
		t.Fatalf("transport %d, want 1", got)
	}

	o.BindingUnusable(b, relay.PermissionExpired, now)
	o.BindingUsable(c, now) // the writer is FIFO: b is gone when this returns
	if _, ok := lookupChannel(t, channels, b); ok {
		t.Fatal("unusable binding still installed")
	}
	if _, ok := lookupChannel(t, channels, c); !ok {
		t.Fatal("binding not installed after room was made")
	}

	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if n, m := countEntries(t, channels), countEntries(t, peers); n != 0 || m != 0 {
		t.Fatalf("after Close %d channel and %d peer entries, want none", n, m)
	}
}

func countEntries(t *testing.T, m *ebpf.Map) int {
	t.Helper()
	n := 0
	var k, v []byte
	it := m.Iterate()
	for it.Next(&k, &v) {
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
