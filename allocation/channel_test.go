package allocation

import (
	"net/netip"
	"testing"
)

func TestBindChannelRange(t *testing.T) {
	tab := newTable(t, Config{})
	a := mustCreate(t, tab, specFor(tupleN(1), "u"), 0)
	cases := []struct {
		ch  uint16
		err error
	}{
		{0x0000, ErrBadChannel}, {0x3FFF, ErrBadChannel}, {0x4000, nil}, {0x4ABC, nil},
		{0x4FFF, nil}, {0x5000, ErrBadChannel}, {0x7FFF, ErrBadChannel}, {0xFFFF, ErrBadChannel},
	}
	for i, c := range cases {
		peer := netip.AddrPortFrom(netip.MustParseAddr("198.51.100.1"), uint16(1000+i))
		if err := a.Bind(c.ch, peer, 0); err != c.err {
			t.Errorf("Bind(%#x) = %v, want %v", c.ch, errName(err), errName(c.err))
		}
		if _, ok := a.ChannelPeer(c.ch, 0); ok != (c.err == nil) {
			t.Errorf("ChannelPeer(%#x) bound = %v", c.ch, ok)
		}
	}
}

func TestBindValidation(t *testing.T) {
	tab := newTable(t, Config{})
	s := specFor(tupleN(1), "u")
	s.Relayed6 = netip.AddrPort{}
	a := mustCreate(t, tab, s, 0)
	cases := []struct {
		name string
		peer netip.AddrPort
		err  error
	}{
		{"zero", netip.AddrPort{}, ErrInvalidAddress},
		{"port 0", ap("198.51.100.1:0"), ErrInvalidAddress},
		{"IPv6 peer on an IPv4 allocation", ap("[2001:db8::1]:5000"), ErrFamilyMismatch},
		{"mapped IPv4 peer", ap("[::ffff:198.51.100.1]:5000"), nil},
	}
	for _, c := range cases {
		if err := a.Bind(0x4000, c.peer, 0); err != c.err {
			t.Errorf("%s: Bind = %v, want %v", c.name, errName(err), errName(c.err))
		}
	}
	if p, ok := a.ChannelPeer(0x4000, 0); !ok || p != ap("198.51.100.1:5000") {
		t.Errorf("ChannelPeer = %v, %v; want the unmapped peer", p, ok)
	}
	if ch, ok := a.PeerChannel(ap("198.51.100.1:5000"), 0); !ok || ch != 0x4000 {
		t.Errorf("PeerChannel = %#x, %v", ch, ok)
	}
	if ch, ok := a.PeerChannel(ap("[::ffff:198.51.100.1]:5000"), 0); !ok || ch != 0x4000 {
		t.Errorf("PeerChannel(mapped) = %#x, %v", ch, ok)
	}
	if _, ok := a.PeerChannel(ap("198.51.100.1:5001"), 0); ok {
		t.Errorf("PeerChannel must compare ports")
	}
}

func TestBindConflicts(t *testing.T) {
	tab := newTable(t, Config{})
	a := mustCreate(t, tab, specFor(tupleN(1), "u"), 0)
	p1, p2 := ap("198.51.100.1:5000"), ap("198.51.100.2:5000")
	if err := a.Bind(0x4000, p1, 0); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		ch   uint16
		peer netip.AddrPort
		err  error
	}{
		{"number bound to another peer", 0x4000, p2, ErrChannelConflict},
		{"peer bound to another number", 0x4001, p1, ErrChannelConflict},
		{"same peer, other port is another peer", 0x4000, ap("198.51.100.1:5001"), ErrChannelConflict},
		{"same pair refreshes", 0x4000, p1, nil},
		{"unrelated pair", 0x4001, p2, nil},
	}
	for _, c := range cases {
		if err := a.Bind(c.ch, c.peer, secs(10)); err != c.err {
			t.Errorf("%s: Bind = %v, want %v", c.name, errName(err), errName(c.err))
		}
	}
	if p, _ := a.ChannelPeer(0x4000, secs(10)); p != p1 {
		t.Errorf("a refused bind changed channel 0x4000 to %v", p)
	}
	if a.Channels(secs(10)) != 2 {
		t.Errorf("Channels = %d", a.Channels(secs(10)))
	}
}

// A binding lives ChannelLifetime (600 s) from its last ChannelBind; data
// never refreshes it; after expiry the number and the peer stay reserved
// for ChannelReuseDelay (5 min) against a different pairing.
func TestChannelExpiryAndReuseDelay(t *testing.T) {
	tab := newTable(t, Config{})
	s := specFor(tupleN(1), "u")
	s.Lifetime = 3600 * 1e9
	a := mustCreate(t, tab, s, 0)
	p1, p2 := ap("198.51.100.1:5000"), ap("198.51.100.2:5000")
	if err := a.Bind(0x4000, p1, 0); err != nil {
		t.Fatal(err)
	}
	if err := a.Bind(0x4000, p1, secs(100)); err != nil { // refresh → 700 s
		t.Fatal(err)
	}
	for s := 101.0; s < 700; s += 100 {
		a.ChannelPeer(0x4000, secs(s))
		a.PeerChannel(p1, secs(s))
	}
	if _, ok := a.ChannelPeer(0x4000, secs(699.999999999)); !ok {
		t.Errorf("binding must live until 700 s")
	}
	if _, ok := a.ChannelPeer(0x4000, secs(700)); ok {
		t.Errorf("binding must end at 700 s (data never refreshes, RFC 8656 §12.6)")
	}
	if _, ok := a.PeerChannel(p1, secs(700)); ok {
		t.Errorf("PeerChannel must end with the binding")
	}
	tab.Expire(secs(700), nil)
	if st := tab.Stats(); st.Channels != (FamilyCount{}) {
		t.Errorf("expired binding still counted: %+v", st)
	}
	// Reserved until 1000 s.
	steps := []struct {
		at   float64
		ch   uint16
		peer netip.AddrPort
		err  error
	}{
		{800, 0x4000, p2, ErrChannelConflict},
		{800, 0x4001, p1, ErrChannelConflict},
		{999.999, 0x4000, p2, ErrChannelConflict},
		{1000, 0x4001, p1, nil}, // the peer moves to a new number …
		{1000, 0x4000, p2, nil}, // … and the old number takes a new peer
	}
	for _, st := range steps {
		if err := a.Bind(st.ch, st.peer, secs(st.at)); err != st.err {
			t.Errorf("Bind(%#x, %v) at %v s = %v, want %v", st.ch, st.peer, st.at, errName(err), errName(st.err))
		}
	}
	if ch, ok := a.PeerChannel(p1, secs(1000)); !ok || ch != 0x4001 {
		t.Errorf("PeerChannel(p1) = %#x, %v", ch, ok)
	}
	if p, ok := a.ChannelPeer(0x4000, secs(1000)); !ok || p != p2 {
		t.Errorf("ChannelPeer(0x4000) = %v, %v", p, ok)
	}
	if a.Channels(secs(1000)) != 2 || tab.Stats().Channels.IPv4 != 2 {
		t.Errorf("Channels = %d, Stats %+v", a.Channels(secs(1000)), tab.Stats())
	}
}

// Rebinding the same pair inside the reuse delay starts a fresh binding.
func TestChannelSamePairAfterExpiry(t *testing.T) {
	tab := newTable(t, Config{})
	s := specFor(tupleN(1), "u")
	s.Lifetime = 3600 * 1e9
	a := mustCreate(t, tab, s, 0)
	p1 := ap("198.51.100.1:5000")
	if err := a.Bind(0x4000, p1, 0); err != nil {
		t.Fatal(err)
	}
	tab.Expire(secs(650), nil)
	if err := a.Bind(0x4000, p1, secs(650)); err != nil {
		t.Fatalf("same pair in the reuse delay = %v", err)
	}
	if _, ok := a.ChannelPeer(0x4000, secs(1249.999)); !ok {
		t.Errorf("rebinding must run 600 s from 650 s")
	}
	if tab.Stats().Channels.IPv4 != 1 {
		t.Errorf("Stats = %+v", tab.Stats())
	}
}

// ChannelBind installs or refreshes the permission for the peer IP
// (RFC 8656 §12.2), subject to MaxPermissions.
func TestBindImpliesPermission(t *testing.T) {
	tab := newTable(t, Config{MaxPermissions: 1})
	s := specFor(tupleN(1), "u")
	s.Lifetime = 3600e9
	a := mustCreate(t, tab, s, 0)
	if err := a.Bind(0x4000, ap("198.51.100.1:5000"), secs(10)); err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("198.51.100.1")
	if !a.Permitted(ip, secs(309.999)) || a.Permitted(ip, secs(310)) {
		t.Errorf("the implied permission must last exactly 300 s")
	}
	// Another port of the same IP needs no new permission.
	if err := a.Bind(0x4001, ap("198.51.100.1:5001"), secs(20)); err != nil {
		t.Errorf("second port of a permitted IP = %v", err)
	}
	if err := a.Bind(0x4002, ap("198.51.100.2:5000"), secs(20)); err != ErrCapacity {
		t.Errorf("bind needing a second permission = %v, want ErrCapacity", err)
	}
	if _, ok := a.ChannelPeer(0x4002, secs(20)); ok {
		t.Errorf("a refused bind left a binding")
	}
	if err := a.Permit(addrs("198.51.100.2"), secs(20)); err != ErrCapacity {
		t.Errorf("Permit over the cap = %v", err)
	}
	// The permission expires at 320 s while the channels live on to 610 s;
	// a channel without its permission relays nothing, so a new
	// ChannelBind (a refresh) must re-install it.
	if a.Permitted(ip, secs(320)) {
		t.Errorf("permission outlived 300 s")
	}
	if err := a.Bind(0x4000, ap("198.51.100.1:5000"), secs(400)); err != nil {
		t.Fatal(err)
	}
	if !a.Permitted(ip, secs(699.999)) || a.Permitted(ip, secs(700)) {
		t.Errorf("refresh of the channel must refresh the permission")
	}
}

func TestMaxChannels(t *testing.T) {
	tab := newTable(t, Config{MaxChannels: 2})
	a := mustCreate(t, tab, specFor(tupleN(1), "u"), 0)
	for i, ch := range []uint16{0x4000, 0x4001} {
		if err := a.Bind(ch, netip.AddrPortFrom(netip.MustParseAddr("198.51.100.1"), uint16(5000+i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	p3 := ap("198.51.100.1:5002")
	if err := a.Bind(0x4002, p3, secs(10)); err != ErrCapacity {
		t.Errorf("third channel = %v, want ErrCapacity", err)
	}
	if err := a.Bind(0x4001, ap("198.51.100.1:5001"), secs(10)); err != nil {
		t.Errorf("refresh at the cap = %v", err)
	}
	// 0x4000 expires at 600 s; bindings in their reuse delay do not count.
	if err := a.Bind(0x4002, p3, secs(599.999)); err != ErrCapacity {
		t.Errorf("before expiry = %v", err)
	}
	// The allocation itself expires at 600 s: refresh it first.
	if err := tab.Refresh(a, 3600e9, secs(500)); err != nil {
		t.Fatal(err)
	}
	if err := a.Bind(0x4002, p3, secs(600)); err != nil {
		t.Errorf("after 0x4000 expired = %v", err)
	}
}

func TestChannelsReclaimed(t *testing.T) {
	tab := newTable(t, Config{})
	s := specFor(tupleN(1), "u")
	s.Lifetime = 3600e9
	a := mustCreate(t, tab, s, 0)
	if err := a.Bind(0x4000, ap("[2001:db8::1]:5000"), 0); err != nil {
		t.Fatal(err)
	}
	if st := tab.Stats(); st.Channels != (FamilyCount{IPv6: 1}) || st.Permissions != (FamilyCount{IPv6: 1}) {
		t.Fatalf("Stats = %+v", st)
	}
	wantNext := []struct {
		at      float64
		next    float64
		chans   int
		entries int
	}{
		{0, 300, 1, 1},    // permission expiry first
		{300, 600, 1, 1},  // then the channel's
		{600, 900, 0, 1},  // then the end of its reuse delay
		{900, 3600, 0, 0}, // then the allocation
		{3600, -1, 0, 0},  // empty
	}
	for _, w := range wantNext {
		tab.Expire(secs(w.at), nil)
		d, ok := tab.NextDeadline()
		if w.next < 0 && ok || w.next >= 0 && (!ok || d != secs(w.next)) {
			t.Errorf("at %v s: NextDeadline = %v, %v; want %v s", w.at, d, ok, w.next)
		}
		if got := tab.Stats().Channels.IPv6; got != w.chans {
			t.Errorf("at %v s: %d channels counted, want %d", w.at, got, w.chans)
		}
		a.mu.RLock()
		n := len(a.chans) + len(a.peers)
		a.mu.RUnlock()
		if n != 2*w.entries {
			t.Errorf("at %v s: %d channel map entries, want %d", w.at, n, 2*w.entries)
		}
	}
}

// TestExpiryAccessors: ChannelExpires and PermissionExpires report the
// exact deadlines of live bindings and permissions (moved by refreshes),
// and nothing once they, or the allocation, expired.
func TestExpiryAccessors(t *testing.T) {
	tab := newTable(t, Config{})
	s := specFor(tupleN(1), "u")
	s.Lifetime = 3600e9
	a := mustCreate(t, tab, s, 0)
	peer, ip := ap("198.51.100.1:5000"), netip.MustParseAddr("198.51.100.1")
	if err := a.Bind(0x4000, peer, secs(10)); err != nil {
		t.Fatal(err)
	}
	if got, exp, ok := a.ChannelExpires(0x4000, secs(10)); !ok || got != peer || exp != secs(610) {
		t.Errorf("ChannelExpires = %v %v %v, want %v until 610 s", got, exp, ok, peer)
	}
	if exp, ok := a.PermissionExpires(ip, secs(10)); !ok || exp != secs(310) {
		t.Errorf("PermissionExpires = %v %v, want 310 s", exp, ok)
	}
	if err := a.Permit([]netip.Addr{ip}, secs(100)); err != nil {
		t.Fatal(err)
	}
	if exp, ok := a.PermissionExpires(ip, secs(100)); !ok || exp != secs(400) {
		t.Errorf("PermissionExpires after a refresh = %v %v, want 400 s", exp, ok)
	}
	if _, ok := a.PermissionExpires(ip, secs(400)); ok {
		t.Error("a permission is reported at its deadline")
	}
	if _, _, ok := a.ChannelExpires(0x4000, secs(610)); ok {
		t.Error("a channel is reported at its deadline")
	}
	if _, _, ok := a.ChannelExpires(0x4001, secs(10)); ok {
		t.Error("an unbound channel is reported")
	}
}
