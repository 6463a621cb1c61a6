package allocation

import (
	"net/netip"
	"testing"
)

// Boundary rule: a permission installed at t is live while now < t + 300 s.
func TestPermissionLifetimeBoundary(t *testing.T) {
	tab := newTable(t, Config{})
	a := mustCreate(t, tab, specFor(tupleN(1), "u"), 0)
	if err := a.Permit(addrs("198.51.100.7"), secs(10)); err != nil {
		t.Fatal(err)
	}
	peer := netip.MustParseAddr("198.51.100.7")
	checks := []struct {
		at   float64
		want bool
	}{
		{10, true}, {100, true}, {309.999, true}, {309.999999999, true}, {310, false}, {400, false},
	}
	for _, c := range checks {
		if got := a.Permitted(peer, secs(c.at)); got != c.want {
			t.Errorf("Permitted at %v s = %v, want %v", c.at, got, c.want)
		}
	}
}

func TestPermitSemantics(t *testing.T) {
	tab := newTable(t, Config{})
	a := mustCreate(t, tab, specFor(tupleN(1), "u"), 0)
	b := mustCreate(t, tab, specFor(tupleN(2), "u"), 0)
	if err := a.Permit(addrs("198.51.100.7", "2001:db8::7"), 0); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		a    *Allocation
		ip   string
		want bool
	}{
		{"listed v4", a, "198.51.100.7", true},
		{"mapped form of listed v4", a, "::ffff:198.51.100.7", true},
		{"listed v6", a, "2001:db8::7", true},
		{"other v4", a, "198.51.100.8", false},
		{"other allocation", b, "198.51.100.7", false},
	}
	for _, c := range cases {
		if got := c.a.Permitted(netip.MustParseAddr(c.ip), secs(1)); got != c.want {
			t.Errorf("%s: Permitted = %v", c.name, got)
		}
	}
	if a.Permitted(netip.Addr{}, 0) {
		t.Errorf("the zero Addr is never permitted")
	}
	// Checking (the data path) never refreshes; Permit again does.
	for s := 1.0; s < 300; s += 50 {
		a.Permitted(netip.MustParseAddr("198.51.100.7"), secs(s))
	}
	if a.Permitted(netip.MustParseAddr("198.51.100.7"), secs(300)) {
		t.Errorf("data must not refresh a permission (RFC 8656 §11.2, §12.6)")
	}
	if err := a.Permit(addrs("2001:db8::7"), secs(200)); err != nil {
		t.Fatal(err)
	}
	if !a.Permitted(netip.MustParseAddr("2001:db8::7"), secs(499.999)) ||
		a.Permitted(netip.MustParseAddr("2001:db8::7"), secs(500)) {
		t.Errorf("refresh must set the deadline to exactly now + 300 s")
	}
	// A stale now never shortens a permission.
	if err := a.Permit(addrs("2001:db8::7"), secs(100)); err != nil {
		t.Fatal(err)
	}
	if !a.Permitted(netip.MustParseAddr("2001:db8::7"), secs(499.999)) {
		t.Errorf("Permit with an older now shortened the permission")
	}
	// Expired allocation: nothing permitted even before Expire runs.
	if err := a.Permit(addrs("198.51.100.9"), secs(590)); err != nil {
		t.Fatal(err)
	}
	if a.Permitted(netip.MustParseAddr("198.51.100.9"), secs(600)) {
		t.Errorf("an expired allocation permits nothing")
	}
	if err := a.Permit(addrs("198.51.100.9"), secs(600)); err != ErrGone {
		t.Errorf("Permit on an expired allocation = %v", err)
	}
}

// Permit is all or nothing (RFC 8656 §10.2).
func TestPermitAtomic(t *testing.T) {
	tab := newTable(t, Config{MaxPermissions: 3})
	spec4 := specFor(tupleN(1), "u")
	spec4.Relayed6 = netip.AddrPort{}
	a := mustCreate(t, tab, spec4, 0)
	if err := a.Permit(addrs("198.51.100.1"), 0); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		ips  []netip.Addr
		err  error
	}{
		{"empty", nil, ErrInvalidAddress},
		{"invalid last", addrs("198.51.100.2", ""), ErrInvalidAddress},
		{"family mismatch last", addrs("198.51.100.2", "2001:db8::1"), ErrFamilyMismatch},
		{"invalid beats family", addrs("2001:db8::1", ""), ErrInvalidAddress},
		{"over capacity", addrs("198.51.100.2", "198.51.100.3", "198.51.100.4"), ErrCapacity},
		{"list longer than the cap", addrs("198.51.100.1", "198.51.100.1", "198.51.100.1", "198.51.100.1"), ErrCapacity},
	}
	for _, c := range cases {
		if err := a.Permit(c.ips, secs(1)); err != c.err {
			t.Errorf("%s: Permit = %v, want %v", c.name, errName(err), errName(c.err))
		}
		if n := a.Permissions(secs(1)); n != 1 {
			t.Errorf("%s: %d permissions after a refused Permit, want 1", c.name, n)
		}
		if a.Permitted(netip.MustParseAddr("198.51.100.2"), secs(1)) {
			t.Errorf("%s: a refused Permit installed an address", c.name)
		}
	}
	// Repeats and refreshes do not count against the cap.
	if err := a.Permit(addrs("198.51.100.1", "198.51.100.2", "::ffff:198.51.100.2"), secs(1)); err != nil {
		t.Errorf("Permit with a repeat within the cap = %v", err)
	}
	if err := a.Permit(addrs("198.51.100.3"), secs(2)); err != nil {
		t.Errorf("third address = %v", err)
	}
	if err := a.Permit(addrs("198.51.100.4"), secs(2)); err != ErrCapacity {
		t.Errorf("fourth address = %v, want ErrCapacity", err)
	}
	// Once the permissions refreshed at 1 s expire their slots are free,
	// even before Expire has reclaimed them.
	if err := a.Permit(addrs("198.51.100.4"), secs(300.999)); err != ErrCapacity {
		t.Errorf("1 ns before expiry = %v, want ErrCapacity", err)
	}
	if err := a.Permit(addrs("198.51.100.4"), secs(301)); err != nil {
		t.Errorf("after expiry = %v", err)
	}
	if st := tab.Stats(); st.Permissions.IPv4 != 2 {
		t.Errorf("Stats = %+v, want 2 IPv4 permissions (the expired ones were purged to make room)", st)
	}
}

func TestPermissionsReclaimed(t *testing.T) {
	tab := newTable(t, Config{})
	a := mustCreate(t, tab, specFor(tupleN(1), "u"), 0)
	if err := a.Permit(addrs("198.51.100.1", "2001:db8::1"), secs(10)); err != nil {
		t.Fatal(err)
	}
	if err := a.Permit(addrs("198.51.100.2"), secs(20)); err != nil {
		t.Fatal(err)
	}
	if st := tab.Stats(); st.Permissions != (FamilyCount{IPv4: 2, IPv6: 1}) {
		t.Fatalf("Stats = %+v", st)
	}
	if d, ok := tab.NextDeadline(); !ok || d != secs(310) {
		t.Errorf("NextDeadline = %v, want 310 s", d)
	}
	tab.Expire(secs(309.999), nil)
	if st := tab.Stats(); st.Permissions != (FamilyCount{IPv4: 2, IPv6: 1}) {
		t.Errorf("reclaimed early: %+v", st)
	}
	tab.Expire(secs(310), nil)
	if st := tab.Stats(); st.Permissions != (FamilyCount{IPv4: 1}) {
		t.Errorf("Stats at 310 s = %+v", st)
	}
	if d, ok := tab.NextDeadline(); !ok || d != secs(320) {
		t.Errorf("NextDeadline = %v, want 320 s", d)
	}
	tab.Expire(secs(320), nil)
	a.mu.RLock()
	left := a.perms
	a.mu.RUnlock()
	if left != nil || tab.Stats().Permissions != (FamilyCount{}) {
		t.Errorf("permissions not reclaimed: %v %+v", left, tab.Stats())
	}
	if d, _ := tab.NextDeadline(); d != secs(600) {
		t.Errorf("NextDeadline = %v, want the allocation's 600 s", d)
	}
}
