package gateway

import (
	"encoding/binary"
	"net/netip"
)

// geometry lays proxy IPs out in the proxy ranges. A slot is a block of
// ProxiesPerFamily consecutive IPv4 addresses and ProxiesPerFamily
// consecutive IPv6 addresses at the same offset (slot×ProxiesPerFamily) from
// the start of each range; one domain on one allocation owns one slot. Slot 0
// (it holds the ranges' first addresses) and any slot holding a sentinel are
// never handed out. Address arithmetic is integer arithmetic on the
// addresses, so mapping a proxy IP back to its slot costs no lookup.
//
// A domain's preferred slot is a hash of its name, so the same domain usually
// gets the same proxy IPs on every allocation; a proxy IP cached by a client
// from an earlier allocation then either means the same domain or nothing
// (refused), never silently another domain. Collisions within one allocation
// probe forward (Session.assignSlot).
type geometry struct {
	v4, v6   netip.Prefix
	v4base   uint32
	v6hi     [8]byte // the IPv6 range's upper 64 bits
	v6lo     uint64  // and lower 64 bits
	slots    uint32  // slot numbers are 0..slots-1
	excluded [2]uint32
}

// maxSlots keeps offsets (slot×ProxiesPerFamily) inside 32 bits.
const maxSlots = 1 << 30

func newGeometry(r ProxyRanges, s Sentinels) geometry {
	g := geometry{v4: r.V4, v6: r.V6}
	if !r.V4.IsValid() || !r.V6.IsValid() {
		return g
	}
	g.v4base = binary.BigEndian.Uint32(r.V4.Addr().AsSlice())
	b16 := r.V6.Addr().As16()
	copy(g.v6hi[:], b16[:8])
	g.v6lo = binary.BigEndian.Uint64(b16[8:])
	g.slots = min(slotsIn(32-r.V4.Bits()), slotsIn(128-r.V6.Bits()))
	for i, ap := range []netip.AddrPort{s.V4, s.V6} {
		if slot, _, ok := g.locate(ap.Addr()); ok {
			g.excluded[i] = slot
		}
	}
	return g
}

// slotsIn returns how many slots fit in a range with hostBits host bits.
func slotsIn(hostBits int) uint32 {
	if hostBits < 2 {
		return 0
	}
	if hostBits-2 >= 30 {
		return maxSlots
	}
	return 1 << (hostBits - 2)
}

// usable reports whether slot may be handed out.
func (g *geometry) usable(slot uint32) bool {
	return slot != 0 && slot < g.slots && slot != g.excluded[0] && slot != g.excluded[1]
}

// addr returns proxy IP number i (0 ≤ i < ProxiesPerFamily) of slot in the
// IPv4 range (v6 false) or the IPv6 range (v6 true).
func (g *geometry) addr(slot uint32, i int, v6 bool) netip.Addr {
	off := slot*ProxiesPerFamily + uint32(i)
	if !v6 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], g.v4base+off)
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	copy(b[:8], g.v6hi[:])
	binary.BigEndian.PutUint64(b[8:], g.v6lo+uint64(off))
	return netip.AddrFrom16(b)
}

// inRanges reports whether a lies in either proxy range.
func (g *geometry) inRanges(a netip.Addr) bool {
	return g.v4.Contains(a) || g.v6.Contains(a)
}

// locate maps a proxy IP to its slot and index. ok is false when a is outside
// the part of the ranges that holds slots (it may still be in a range).
func (g *geometry) locate(a netip.Addr) (slot uint32, i int, ok bool) {
	var off uint64
	switch {
	case g.v4.Contains(a):
		off = uint64(binary.BigEndian.Uint32(a.AsSlice()) - g.v4base)
	case g.v6.Contains(a):
		b := a.As16()
		if [8]byte(b[:8]) != g.v6hi {
			return 0, 0, false // beyond the low 64 bits slots live in
		}
		off = binary.BigEndian.Uint64(b[8:]) - g.v6lo
	default:
		return 0, 0, false
	}
	if off >= uint64(g.slots)*ProxiesPerFamily {
		return 0, 0, false
	}
	return uint32(off / ProxiesPerFamily), int(off % ProxiesPerFamily), true
}

// home returns the preferred slot of a normalized domain name: FNV-1a
// (64-bit) of the name, reduced onto the slots after slot 0.
func (g *geometry) home(name string) uint32 {
	const offset64, prime64 = 14695981039346656037, 1099511628211
	h := uint64(offset64)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= prime64
	}
	return 1 + uint32(h%uint64(g.slots-1))
}

// next returns the slot probed after slot.
func (g *geometry) next(slot uint32) uint32 {
	if slot+1 >= g.slots {
		return 1
	}
	return slot + 1
}
