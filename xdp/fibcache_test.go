package xdp

import (
	"encoding/binary"
	"testing"
)

// nextHop is the program's cached FIB answer as Go sees it (struct
// next_hop in xdp/bpf/relay.c).
type nextHop struct {
	dmac, smac [6]byte
	checkedLen uint16 // the largest IP length the route's MTU was checked for
	checkedNs  uint64 // CLOCK_MONOTONIC of the lookup; 0: none
}

func (h nextHop) words() (dmacLen, smac, checkedNs uint64) {
	var d, s [8]byte
	copy(d[:], h.dmac[:])
	binary.BigEndian.PutUint16(d[6:], h.checkedLen)
	copy(s[:], h.smac[:])
	// The program stores the bytes in memory order; so does this.
	return binary.NativeEndian.Uint64(d[:]), binary.NativeEndian.Uint64(s[:]), h.checkedNs
}

func nextHopOf(dmacLen, smac, checkedNs uint64) nextHop {
	var d, s [8]byte
	binary.NativeEndian.PutUint64(d[:], dmacLen)
	binary.NativeEndian.PutUint64(s[:], smac)
	h := nextHop{checkedLen: binary.BigEndian.Uint16(d[6:]), checkedNs: checkedNs}
	copy(h.dmac[:], d[:6])
	copy(h.smac[:], s[:6])
	return h
}

// setCache writes h as both directions' cached answer of e's binding.
func setCache(t *testing.T, p *Program, e *entry, h nextHop) {
	t.Helper()
	cv, pv := e.chanVal, e.peerVal
	cv.ToPeer.DmacLen, cv.ToPeer.Smac, cv.ToPeer.CheckedNs = h.words()
	pv.ToClient.DmacLen, pv.ToClient.Smac, pv.ToClient.CheckedNs = h.words()
	if err := p.objs.Channels.Put(&e.chanKey, &cv); err != nil {
		t.Fatal(err)
	}
	if err := p.objs.Peers.Put(&e.peerKey, &pv); err != nil {
		t.Fatal(err)
	}
}

// caches reads the cached answers of e's binding: towards the peer and
// towards the client.
func caches(t *testing.T, p *Program, e *entry) (toPeer, toClient nextHop) {
	t.Helper()
	var cv relayChannelValue
	var pv relayPeerValue
	if err := p.objs.Channels.Lookup(&e.chanKey, &cv); err != nil {
		t.Fatal(err)
	}
	if err := p.objs.Peers.Lookup(&e.peerKey, &pv); err != nil {
		t.Fatal(err)
	}
	return nextHopOf(cv.ToPeer.DmacLen, cv.ToPeer.Smac, cv.ToPeer.CheckedNs),
		nextHopOf(pv.ToClient.DmacLen, pv.ToClient.Smac, pv.ToClient.CheckedNs)
}

// TestProgramFIBCache: the program reuses a binding's FIB answer for
// 100 ms and only for datagrams no longer than the one the route's MTU
// was checked for; otherwise it asks the FIB (whose answer here is the
// router's MAC) and caches that answer. A failed lookup is not cached.
func TestProgramFIBCache(t *testing.T) {
	ns := enterTableNamespace(t)
	p := requireBPF(t, ProgramConfig{ListenPorts: []uint16{3478}, ChannelMax: 0x4FFF, MaxBindings: 64})
	data := []byte("hello through the cache")
	toPeer := in(client4, listener4, 64, channelData(0x4001, data))
	toClient := in(peer4, relayed4, 64, data)
	// IP lengths of the frames the program sends.
	toPeerLen, toClientLen := uint16(20+8+len(data)), uint16(20+8+4+len(data))
	stale := [6]byte{0x02, 0xca, 0xc4, 0xe0, 0, 0x01}
	staleSrc := [6]byte{0x02, 0xca, 0xc4, 0xe0, 0, 0x02}
	const ms = uint64(1e6)

	cases := []struct {
		name   string
		cached func(now uint64) nextHop // nil: none (as userspace installs it)
		// viaCache: the frames leave with the cached MACs, not the FIB's.
		viaCache bool
	}{
		{name: "nothing cached", cached: nil},
		{name: "fresh answer is reused", viaCache: true,
			cached: func(now uint64) nextHop { return nextHop{stale, staleSrc, 1500, now - 10*ms} }},
		{name: "answer older than 100 ms is asked again",
			cached: func(now uint64) nextHop { return nextHop{stale, staleSrc, 1500, now - 150*ms} }},
		{name: "MTU checked for a shorter datagram is asked again",
			cached: func(now uint64) nextHop {
				return nextHop{stale, staleSrc, min(toPeerLen, toClientLen) - 1, now - 10*ms}
			}},
		{name: "a time in the future is not trusted",
			cached: func(now uint64) nextHop { return nextHop{stale, staleSrc, 1500, now + 10_000*ms} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ns.join(t)
			e := newEntry(bind4.client, bind4.server, bind4.channel, bind4.peer, bind4.relayed, farFuture)
			if err := p.put(&e); err != nil {
				t.Fatal(err)
			}
			defer p.remove(&e)
			before := monotonicNow()
			var was nextHop
			if c.cached != nil {
				was = c.cached(before)
				setCache(t, p, &e, was)
			}
			wantPeer := out(relayed4, peer4, 63, data)
			wantClient := out(listener4, client4, 63, channelData(0x4001, data))
			if c.viaCache {
				for _, f := range []*frameSpec{&wantPeer, &wantClient} {
					f.dstMAC, f.srcMAC = stale, staleSrc
				}
			}
			for _, d := range []struct {
				in, want frameSpec
			}{{toPeer, wantPeer}, {toClient, wantClient}} {
				got, verdict := runProgram(t, p, ns.ifindex, d.in.build())
				if want := d.want.build(); verdict != xdpTX || string(got) != string(want) {
					t.Fatalf("verdict %d, frame %x; want XDP_TX and %x", verdict, got, want)
				}
			}
			after := monotonicNow()
			gotPeer, gotClient := caches(t, p, &e)
			if c.viaCache {
				if gotPeer != was || gotClient != was {
					t.Fatalf("the reused answers changed: %+v and %+v, were %+v", gotPeer, gotClient, was)
				}
				return
			}
			for _, h := range []struct {
				got    nextHop
				length uint16
			}{{gotPeer, toPeerLen}, {gotClient, toClientLen}} {
				if h.got.dmac != routerMAC || h.got.smac != relayMAC || h.got.checkedLen != h.length ||
					h.got.checkedNs < before || h.got.checkedNs > after {
					t.Errorf("cached %+v; want the router's MAC, relay0's, length %d, a time in [%d, %d]",
						h.got, h.length, before, after)
				}
			}
		})
	}

	t.Run("a failed lookup is not cached", func(t *testing.T) {
		ns.join(t)
		setForwarding(t, "relay0", false)
		defer setForwarding(t, "relay0", true)
		e := newEntry(bind4.client, bind4.server, bind4.channel, bind4.peer, bind4.relayed, farFuture)
		if err := p.put(&e); err != nil {
			t.Fatal(err)
		}
		defer p.remove(&e)
		old := nextHop{stale, staleSrc, 1500, monotonicNow() - 150*ms}
		setCache(t, p, &e, old)
		frame := toPeer.build()
		got, verdict := runProgram(t, p, ns.ifindex, frame)
		if verdict != xdpPass || string(got[:len(frame)]) != string(frame) {
			t.Fatalf("verdict %d; want the frame passed unchanged", verdict)
		}
		if gotPeer, _ := caches(t, p, &e); gotPeer != old {
			t.Fatalf("cache %+v after a failed lookup, was %+v", gotPeer, old)
		}
	})
}
