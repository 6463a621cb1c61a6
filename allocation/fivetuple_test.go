package allocation

import (
	"net/netip"
	"testing"
	"unsafe"
)

func TestFiveTupleCanonicalLookup(t *testing.T) {
	tab := newTable(t, Config{})
	v4 := FiveTuple{Client: ap("192.0.2.10:40000"), Server: ap("198.51.100.1:3478"), Transport: TransportUDP}
	mapped := FiveTuple{Client: ap("[::ffff:192.0.2.10]:40000"), Server: ap("[::ffff:198.51.100.1]:3478"), Transport: TransportUDP}
	a := mustCreate(t, tab, specFor(mapped, "alice"), 0)
	if a.FiveTuple != v4 {
		t.Errorf("stored tuple %v, want canonical %v", a.FiveTuple, v4)
	}
	if got := tab.Lookup(v4, 0); got != a {
		t.Errorf("Lookup(IPv4 form) = %p, want %p", got, a)
	}
	if got := tab.Lookup(mapped, 0); got != a {
		t.Errorf("Lookup(mapped form) = %p, want %p", got, a)
	}
	if _, err := tab.Create(specFor(v4, "alice"), 0); err != ErrExists {
		t.Errorf("Create on the IPv4 form of an existing tuple: %v, want ErrExists", err)
	}
	zoned := FiveTuple{Client: ap("[fe80::1%eth0]:5000"), Server: ap("[fe80::2%eth0]:3478"), Transport: TransportUDP}
	b := mustCreate(t, tab, specFor(zoned, "bob"), 0)
	plain := FiveTuple{Client: ap("[fe80::1]:5000"), Server: ap("[fe80::2]:3478"), Transport: TransportUDP}
	if tab.Lookup(plain, 0) != b || b.FiveTuple != plain {
		t.Errorf("zones must not be part of the 5-tuple")
	}
}

func TestFiveTupleFieldsDistinguish(t *testing.T) {
	tab := newTable(t, Config{})
	base := FiveTuple{Client: ap("192.0.2.1:1000"), Server: ap("198.51.100.1:3478"), Transport: TransportUDP}
	variants := []FiveTuple{
		base,
		{Client: ap("192.0.2.2:1000"), Server: base.Server, Transport: TransportUDP},
		{Client: ap("192.0.2.1:1001"), Server: base.Server, Transport: TransportUDP},
		{Client: base.Client, Server: ap("198.51.100.2:3478"), Transport: TransportUDP},
		{Client: base.Client, Server: ap("198.51.100.1:3479"), Transport: TransportUDP},
		{Client: base.Client, Server: base.Server, Transport: TransportTCP},
		{Client: base.Client, Server: base.Server, Transport: TransportTLS},
		{Client: base.Client, Server: base.Server, Transport: TransportDTLS},
		{Client: ap("[2001:db8::1]:1000"), Server: ap("[2001:db8::2]:3478"), Transport: TransportUDP},
	}
	made := map[*Allocation]bool{}
	for _, ft := range variants {
		made[mustCreate(t, tab, specFor(ft, "u"), 0)] = true
	}
	for _, ft := range variants {
		a := tab.Lookup(ft, 0)
		if a == nil || a.FiveTuple != ft || !made[a] {
			t.Errorf("Lookup(%v) = %v", ft, a)
		}
	}
	if tab.Len() != len(variants) {
		t.Errorf("Len = %d, want %d", tab.Len(), len(variants))
	}
}

func TestTransportAndFamily(t *testing.T) {
	names := map[Transport]string{TransportUDP: "udp", TransportTCP: "tcp", TransportTLS: "tls", TransportDTLS: "dtls", 0: "invalid", 9: "invalid"}
	for tr, want := range names {
		if tr.String() != want || tr.Valid() != (want != "invalid") {
			t.Errorf("Transport(%d): String %q Valid %v", tr, tr.String(), tr.Valid())
		}
	}
	fams := []struct {
		ip   netip.Addr
		want Family
		ok   bool
	}{
		{netip.MustParseAddr("192.0.2.1"), FamilyIPv4, true},
		{netip.MustParseAddr("::ffff:192.0.2.1"), FamilyIPv4, true},
		{netip.MustParseAddr("2001:db8::1"), FamilyIPv6, true},
		{netip.Addr{}, 0, false},
	}
	for _, f := range fams {
		if got, ok := FamilyOf(f.ip); got != f.want || ok != f.ok {
			t.Errorf("FamilyOf(%v) = %v, %v", f.ip, got, ok)
		}
	}
}

func TestShardSpread(t *testing.T) {
	tab := newTable(t, Config{Shards: 16})
	counts := make([]int, 16)
	index := map[*shard]int{}
	for i := range tab.shards {
		index[&tab.shards[i]] = i
	}
	for i := 0; i < 16*256; i++ {
		ft := FiveTuple{
			Client:    netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 5000),
			Server:    ap("198.51.100.1:3478"),
			Transport: TransportUDP,
		}
		k := tupleKeyOf(ft)
		counts[index[tab.shardOf(&k)]]++
	}
	for i, n := range counts {
		if n < 128 || n > 384 {
			t.Errorf("shard %d holds %d of 4096 keys; the hash spreads badly", i, n)
		}
	}
}

// Keys must be pointer-free and padding-free so maps hash them as one block.
func TestKeyLayout(t *testing.T) {
	if got := unsafe.Sizeof(tupleKey{}); got != 38 {
		t.Errorf("sizeof(tupleKey) = %d, want 38 (no padding)", got)
	}
	if got := unsafe.Sizeof(addrKey{}); got != 18 {
		t.Errorf("sizeof(addrKey) = %d, want 18 (no padding)", got)
	}
}

var sizeofAllocation = unsafe.Sizeof(Allocation{})
