package relay

import (
	"net/netip"
	"testing"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/internal/stunmsg"
)

// FuzzRequestHandler feeds arbitrary datagrams through the relay's UDP
// dispatch end to end — demultiplexing, STUN parsing, authentication, every
// method, the ChannelData path — from a client that owns an allocation with a
// permission and a channel, so deep paths are reachable.
//
// The first input byte picks a mode: odd values sign the input (when it
// parses as a STUN request) with valid long-term credentials, so fuzzed
// attributes reach the method handlers instead of stopping at 401. After
// each input nothing has panicked, the allocation table is consistent and
// the relay still answers a request.
func FuzzRequestHandler(f *testing.F) {
	srv := newTestServer(f)
	client := newRawClient(f, srv.udp, "udp4")
	client.allocate()
	peer := newUDPPeer(f, "udp4")
	client.bind(hotChannel, peer.addr())
	drain(f, func(p []byte) error { _, _, err := client.conn.ReadFromUDPAddrPort(p); return err })
	drain(f, func(p []byte) error { _, _, err := peer.conn.ReadFromUDPAddrPort(p); return err })
	w, err := newWorker(srv.Server, 98)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(w.close)
	// The worker registers relayed sockets in entries under its lock.
	srv.workers[0].mu.Lock()
	listener := srv.workers[0].entries[0].listener
	srv.workers[0].mu.Unlock()
	from := client.addr()

	for _, seed := range fuzzSeeds(client, peer.addr()) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		mode, msg := data[0], data[1:]
		if mode&1 == 1 {
			msg = signed(client, msg)
		}
		w.dispatch(listener, srv.udp, from, msg, mono.Now())

		// The table stays consistent: the one client 5-tuple holds the
		// one allocation there can be, or there is none.
		now := mono.Now()
		ft := allocation.FiveTuple{Client: from, Server: srv.udp, Transport: allocation.TransportUDP}
		if n, found := srv.table.Len(), srv.table.Lookup(ft, now) != nil; n > 1 || found != (n == 1) {
			t.Fatalf("%d allocations in the table, client's 5-tuple finds one: %v", n, found)
		}
		// And the relay still answers a request: an Allocate without
		// credentials gets its 401 challenge (RFC 8489 §9.2.4).
		answered := srv.Stats().Requests["allocate"]["401"]
		w.dispatch(listener, srv.udp, from, client.build(stunmsg.Allocate, stunmsg.Request, newTxID(), false, func(b *stunmsg.Builder) {
			b.AddRequestedTransport(stunmsg.ProtoUDP)
		}), now)
		if got := srv.Stats().Requests["allocate"]["401"]; got != answered+1 {
			t.Fatalf("an Allocate without credentials after the input: %d challenges, want %d", got, answered+1)
		}
	})
}

// signed rebuilds a parsable STUN request with the client's valid
// credentials appended; anything else is returned unchanged.
func signed(c *rawClient, msg []byte) []byte {
	var m stunmsg.Message
	if m.Parse(msg) != nil || m.Class != stunmsg.Request {
		return msg
	}
	return c.build(m.Method, m.Class, m.TransactionID, true, func(b *stunmsg.Builder) {
		for _, a := range m.Attrs() {
			switch a.Type {
			case stunmsg.AttrUsername, stunmsg.AttrRealm, stunmsg.AttrNonce,
				stunmsg.AttrMessageIntegrity, stunmsg.AttrMessageIntegritySHA256, stunmsg.AttrFingerprint:
				continue
			}
			b.Add(a.Type, m.Value(a))
		}
	})
}

// fuzzSeeds are well-formed inputs for every method, unsigned and signed.
func fuzzSeeds(c *rawClient, peer netip.AddrPort) [][]byte {
	reqs := [][]byte{
		c.build(stunmsg.Binding, stunmsg.Request, newTxID(), false, nil),
		c.build(stunmsg.Allocate, stunmsg.Request, newTxID(), false, func(b *stunmsg.Builder) {
			b.AddRequestedTransport(stunmsg.ProtoUDP)
		}),
		c.build(stunmsg.Refresh, stunmsg.Request, newTxID(), false, func(b *stunmsg.Builder) {
			b.AddUint32(stunmsg.AttrLifetime, 600)
		}),
		c.build(stunmsg.CreatePermission, stunmsg.Request, newTxID(), false, func(b *stunmsg.Builder) {
			b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
		}),
		c.build(stunmsg.ChannelBind, stunmsg.Request, newTxID(), false, func(b *stunmsg.Builder) {
			b.AddChannelNumber(0x4002)
			b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
		}),
		c.build(stunmsg.Send, stunmsg.Indication, newTxID(), false, func(b *stunmsg.Builder) {
			b.AddXORAddress(stunmsg.AttrXORPeerAddress, peer)
			b.Add(stunmsg.AttrData, []byte("hello"))
		}),
		channelData(hotChannel, []byte("payload")),
		{0x40, 0x01, 0xff, 0xff},
		{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42},
	}
	var seeds [][]byte
	for _, r := range reqs {
		seeds = append(seeds, append([]byte{0}, r...), append([]byte{1}, r...))
	}
	return seeds
}
