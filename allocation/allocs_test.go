package allocation

import (
	"net/netip"
	"testing"
	"time"
)

// hotFixture is an allocation with a permission and a channel, as the data
// path sees it.
func hotFixture(tb testing.TB) (*Table, *Allocation, FiveTuple, netip.AddrPort) {
	tab := newTable(tb, Config{})
	for i := 1; i <= 250; i++ { // neighbours, so the shard maps are not trivial
		mustCreate(tb, tab, specFor(tupleN(i), "neighbour"), 0)
	}
	ft := FiveTuple{Client: ap("[2001:db8::5]:40000"), Server: ap("[2001:db8::1]:3478"), Transport: TransportUDP}
	s := specFor(ft, "hot")
	s.Lifetime = time.Hour
	a := mustCreate(tb, tab, s, 0)
	peer := ap("198.51.100.77:6000")
	if err := a.Bind(0x4000, peer, 0); err != nil {
		tb.Fatal(err)
	}
	return tab, a, ft, peer
}

// The data-path methods must not allocate (style item 13).
func TestDataPathAllocs(t *testing.T) {
	tab, a, ft, peer := hotFixture(t)
	now := secs(10)
	ip := peer.Addr()
	cases := []struct {
		name string
		fn   func()
	}{
		{"Lookup", func() {
			if tab.Lookup(ft, now) != a {
				t.Fatal("Lookup missed")
			}
		}},
		{"Lookup miss", func() {
			if tab.Lookup(tupleN(251), now) != nil {
				t.Fatal("Lookup hit")
			}
		}},
		{"Permitted", func() {
			if !a.Permitted(ip, now) {
				t.Fatal("not permitted")
			}
		}},
		{"ChannelPeer", func() {
			if p, ok := a.ChannelPeer(0x4000, now); !ok || p != peer {
				t.Fatal("ChannelPeer missed")
			}
		}},
		{"PeerChannel", func() {
			if ch, ok := a.PeerChannel(peer, now); !ok || ch != 0x4000 {
				t.Fatal("PeerChannel missed")
			}
		}},
	}
	for _, c := range cases {
		if n := testing.AllocsPerRun(1000, c.fn); n != 0 {
			t.Errorf("%s allocates %v times per call, want 0", c.name, n)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	tab, _, ft, _ := hotFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		tab.Lookup(ft, secs(10))
	}
}

func BenchmarkLookupParallel(b *testing.B) {
	tab, _, ft, _ := hotFixture(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tab.Lookup(ft, secs(10))
		}
	})
}

func BenchmarkPermitted(b *testing.B) {
	_, a, _, peer := hotFixture(b)
	ip := peer.Addr()
	b.ReportAllocs()
	for b.Loop() {
		a.Permitted(ip, secs(10))
	}
}

func BenchmarkChannelPeer(b *testing.B) {
	_, a, _, _ := hotFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		a.ChannelPeer(0x4000, secs(10))
	}
}

func BenchmarkPeerChannel(b *testing.B) {
	_, a, _, peer := hotFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		a.PeerChannel(peer, secs(10))
	}
}

// BenchmarkChannelDataPath is what one ChannelData from a client costs the
// table: find the allocation, map the channel, check the permission.
func BenchmarkChannelDataPath(b *testing.B) {
	tab, _, ft, _ := hotFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		a := tab.Lookup(ft, secs(10))
		p, _ := a.ChannelPeer(0x4000, secs(10))
		a.Permitted(p.Addr(), secs(10))
	}
}

// BenchmarkReferenceMap is the yardstick for BenchmarkLookup: a plain map
// keyed by FiveTuple, with no lock, no canonicalization and no expiry
// check. The machines are shared and noisy; compare the ratio.
func BenchmarkReferenceMap(b *testing.B) {
	tab, a, ft, _ := hotFixture(b)
	m := map[FiveTuple]*Allocation{ft: a}
	for i := range tab.shards {
		for _, x := range tab.shards[i].byTuple {
			m[x.FiveTuple] = x
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if m[ft] != a {
			b.Fatal("miss")
		}
	}
}

// BenchmarkCreateDelete measures the control path for comparison.
func BenchmarkCreateDelete(b *testing.B) {
	tab := newTable(b, Config{})
	s := specFor(tupleN(1), "u")
	b.ReportAllocs()
	for b.Loop() {
		a, err := tab.Create(s, 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := tab.Delete(a, 0); err != nil {
			b.Fatal(err)
		}
	}
}
