package allocation

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// TestConcurrentReadersAndWriters runs data-path readers (as listener
// loops on several cores would) against a request handler creating,
// refreshing, deleting, permitting and binding, and a timer loop calling
// Expire, all on one shared clock that only moves forward. Run with -race.
// Afterwards the table must be consistent: everything expires, the gauges
// return to zero and each allocation is handed over exactly once.
func TestConcurrentReadersAndWriters(t *testing.T) {
	tab := newTable(t, Config{Shards: 4, MaxPermissions: 8, MaxChannels: 8})
	var clock atomic.Int64 // mono.Time, advanced by the writer
	now := func() mono.Time { return mono.Time(clock.Load()) }
	const tuples = 64
	stop := make(chan struct{})
	var created atomic.Int64
	var handedOver sync.Map // *Allocation → true, from Delete or Expire
	handOver := func(a *Allocation) {
		if _, dup := handedOver.LoadOrStore(a, true); dup {
			t.Errorf("allocation handed over twice")
		}
	}
	var readers, writers sync.WaitGroup
	for r := range 3 {
		readers.Go(func() {
			peer := netip.AddrPortFrom(netip.MustParseAddr("198.51.100.1"), 5000)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				a := tab.Lookup(tupleN(1+(i+r)%tuples), now())
				if a == nil {
					continue
				}
				a.Permitted(peer.Addr(), now())
				if p, ok := a.ChannelPeer(0x4000, now()); ok && p.Addr() != peer.Addr() {
					t.Errorf("channel bound to an unexpected peer %v", p)
				}
				a.PeerChannel(peer, now())
				_ = a.Ext
			}
		})
	}
	writers.Go(func() { // the request handler
		var expired []*Allocation
		for i := range 20000 {
			clock.Add(int64(50 * time.Millisecond))
			n := now()
			ft := tupleN(1 + i%tuples)
			a := tab.Lookup(ft, n)
			switch {
			case a == nil:
				if a, err := tab.Create(specFor(ft, "u"), n); err == nil {
					created.Add(1)
					a.Permit([]netip.Addr{netip.MustParseAddr("198.51.100.1")}, n)
				}
			case i%7 == 0:
				if tab.Delete(a, n) == nil {
					handOver(a)
				}
			case i%5 == 0:
				tab.Refresh(a, 600*time.Second, n)
			default:
				port := uint16(5000 + i%3)
				a.Bind(0x4000+uint16(i%3), netip.AddrPortFrom(netip.MustParseAddr("198.51.100.1"), port), n)
			}
			if i%100 == 0 {
				expired = tab.Expire(n, expired[:0])
				for _, a := range expired {
					handOver(a)
				}
			}
		}
	})
	writers.Go(func() { // the shell's timer loop
		var buf []*Allocation
		for range 2000 {
			buf = tab.Expire(now(), buf[:0])
			for _, a := range buf {
				handOver(a)
			}
			tab.NextDeadline()
			tab.Stats()
		}
	})
	writers.Wait()
	close(stop)
	readers.Wait()
	end := now() + mono.Time(2*time.Hour)
	for _, a := range tab.Expire(end, nil) {
		handOver(a)
	}
	if st := tab.Stats(); st != (Stats{}) {
		t.Errorf("Stats after everything expired = %+v, want zero", st)
	}
	handed := int64(0)
	handedOver.Range(func(k, _ any) bool {
		handed++
		if !k.(*Allocation).Closed() {
			t.Errorf("handed-over allocation not closed")
		}
		return true
	})
	if handed != created.Load() || handed < 100 {
		t.Errorf("created %d allocations, %d handed over", created.Load(), handed)
	}
	if _, ok := tab.NextDeadline(); ok {
		t.Errorf("deadline left in an empty table")
	}
}
