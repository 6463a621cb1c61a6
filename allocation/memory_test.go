package allocation

import (
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// TestMemoryPerAllocation measures the heap cost of an allocation in the
// table (struct, map slot, queue slot) with no permissions and channels,
// and the extra cost of one permission plus one channel. An operator runs
// 10^5 allocations, so the figures are bounded here and logged
// (go test -v -run MemoryPer).
func TestMemoryPerAllocation(t *testing.T) {
	const n = 10000
	specs := make([]Spec, n)
	for i := range specs {
		ft := FiveTuple{
			Client:    netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 40000),
			Server:    ap("198.51.100.1:3478"),
			Transport: TransportUDP,
		}
		specs[i] = Spec{FiveTuple: ft, Username: "1700000000:user", User: "user", Realm: "example.org",
			Relayed4: relay4, Lifetime: time.Hour}
	}
	peers := make([]netip.AddrPort, n)
	for i := range peers {
		peers[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 5000)
	}
	tab := newTable(t, Config{})
	keep := make([]*Allocation, 0, n)
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	for i := range specs {
		keep = append(keep, mustCreate(t, tab, specs[i], 0))
	}
	empty := heap()
	ips := make([]netip.Addr, 1)
	for i, a := range keep {
		ips[0] = peers[i].Addr()
		if err := a.Permit(ips, 0); err != nil {
			t.Fatal(err)
		}
		if err := a.Bind(0x4000, peers[i], 0); err != nil {
			t.Fatal(err)
		}
	}
	full := heap()
	perEmpty := float64(empty-before) / n
	perExtra := float64(full-empty) / n
	t.Logf("per allocation: %.0f bytes empty, %.0f bytes more with one permission and one channel (%.0f total); sizeof(Allocation) = %d",
		perEmpty, perExtra, perEmpty+perExtra, sizeofAllocation)
	if perEmpty > 640 {
		t.Errorf("an empty allocation costs %.0f bytes, budget 640", perEmpty)
	}
	if perEmpty+perExtra > 1536 {
		t.Errorf("an allocation with one permission and one channel costs %.0f bytes, budget 1536", perEmpty+perExtra)
	}
	// The inputs stay reachable throughout, so that freeing them cannot
	// hide in the deltas.
	runtime.KeepAlive(specs)
	runtime.KeepAlive(peers)
	runtime.KeepAlive(keep)
	runtime.KeepAlive(tab)
}
