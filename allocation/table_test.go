package allocation

import (
	"net/netip"
	"testing"
	"time"
)

func TestCreateRecordsSpec(t *testing.T) {
	tab := newTable(t, Config{})
	s := specFor(tupleN(1), "alice")
	s.Key = [16]byte{1, 2, 3}
	s.TxID = [12]byte{9, 8, 7}
	s.Relayed4 = ap("[::ffff:203.0.113.9]:50002")
	s.Relayed6 = netip.AddrPort{}
	s.Ext = "sockets"
	s.Lifetime = 1200 * time.Second
	a := mustCreate(t, tab, s, secs(5))
	if a.Username != s.Username || a.User != "alice" || a.Realm != "example.org" ||
		a.Key != s.Key || a.TxID != s.TxID || a.Ext != "sockets" || a.Created != secs(5) {
		t.Errorf("allocation does not record the spec: %+v", a)
	}
	if a.Relayed4 != ap("203.0.113.9:50002") || a.Relayed6.IsValid() {
		t.Errorf("relayed = %v / %v, want the unmapped IPv4 address only", a.Relayed4, a.Relayed6)
	}
	if !a.HasFamily(FamilyIPv4) || a.HasFamily(FamilyIPv6) || a.HasFamily(0) {
		t.Errorf("HasFamily wrong")
	}
	if a.Expires() != secs(1205) || a.Remaining(secs(205)) != 1000*time.Second || a.Remaining(secs(2000)) != 0 {
		t.Errorf("Expires %v Remaining %v", a.Expires(), a.Remaining(secs(205)))
	}
	if a.Closed() || a.Permissions(0) != 0 || a.Channels(0) != 0 {
		t.Errorf("a new allocation is open with no permissions and no channels")
	}
}

func TestCreateInvalidSpec(t *testing.T) {
	tab := newTable(t, Config{})
	good := specFor(tupleN(1), "u")
	mutate := map[string]func(*Spec){
		"no client":             func(s *Spec) { s.FiveTuple.Client = netip.AddrPort{} },
		"no server":             func(s *Spec) { s.FiveTuple.Server = netip.AddrPort{} },
		"no transport":          func(s *Spec) { s.FiveTuple.Transport = 0 },
		"unknown transport":     func(s *Spec) { s.FiveTuple.Transport = 77 },
		"no relayed address":    func(s *Spec) { s.Relayed4, s.Relayed6 = netip.AddrPort{}, netip.AddrPort{} },
		"IPv6 in Relayed4":      func(s *Spec) { s.Relayed4 = relay6 },
		"IPv4 in Relayed6":      func(s *Spec) { s.Relayed6 = relay4 },
		"mapped in Relayed6":    func(s *Spec) { s.Relayed6 = ap("[::ffff:203.0.113.1]:5000") },
		"relayed port 0":        func(s *Spec) { s.Relayed4 = ap("203.0.113.1:0") },
		"zero lifetime":         func(s *Spec) { s.Lifetime = 0 },
		"negative lifetime":     func(s *Spec) { s.Lifetime = -time.Second },
		"lifetime above max":    func(s *Spec) { s.Lifetime = 3601 * time.Second },
		"relayed6 port 0":       func(s *Spec) { s.Relayed6 = ap("[2001:db8::1]:0") },
		"relayed4 invalid only": func(s *Spec) { s.Relayed6 = netip.AddrPort{}; s.Relayed4 = netip.AddrPort{} },
	}
	for name, m := range mutate {
		s := good
		m(&s)
		if a, err := tab.Create(s, 0); err != ErrInvalidSpec || a != nil {
			t.Errorf("%s: Create = %v, %v; want ErrInvalidSpec", name, a, err)
		}
	}
	if tab.Len() != 0 || tab.UserAllocations("u") != 0 {
		t.Errorf("failed creates left state behind")
	}
}

func TestLookupExpiryBoundary(t *testing.T) {
	tab := newTable(t, Config{})
	ft := tupleN(1)
	a := mustCreate(t, tab, specFor(ft, "u"), secs(10))
	if tab.Lookup(ft, secs(609.999999999)) != a {
		t.Errorf("allocation must be alive 1 ns before its deadline")
	}
	if tab.Lookup(ft, secs(610)) != nil {
		t.Errorf("allocation must be gone at its deadline (alive iff now < deadline)")
	}
	if tab.Lookup(tupleN(2), 0) != nil {
		t.Errorf("Lookup of an unknown tuple must be nil")
	}
	// Not yet reclaimed: still counted, and a Create on the tuple replaces it.
	if tab.Len() != 1 {
		t.Errorf("Len = %d before Expire", tab.Len())
	}
	b := mustCreate(t, tab, specFor(ft, "u"), secs(610))
	if !a.Closed() || tab.Lookup(ft, secs(610)) != b || tab.Len() != 1 {
		t.Errorf("Create over an expired allocation must retire it")
	}
	got := tab.Expire(secs(610), nil)
	if len(got) != 1 || got[0] != a {
		t.Errorf("Expire = %v, want the retired allocation once", got)
	}
	if got := tab.Expire(secs(611), nil); len(got) != 0 {
		t.Errorf("second Expire = %v, want nothing", got)
	}
}

func TestCreateExists(t *testing.T) {
	tab := newTable(t, Config{})
	ft := tupleN(1)
	a := mustCreate(t, tab, specFor(ft, "u"), 0)
	if b, err := tab.Create(specFor(ft, "other"), secs(100)); err != ErrExists || b != nil {
		t.Fatalf("Create on a live tuple = %v, %v; want ErrExists", b, err)
	}
	if tab.Lookup(ft, secs(100)) != a || tab.Len() != 1 || tab.UserAllocations("other") != 0 {
		t.Errorf("a refused create changed the table")
	}
}

func TestRefresh(t *testing.T) {
	tab := newTable(t, Config{})
	ft := tupleN(1)
	a := mustCreate(t, tab, specFor(ft, "u"), 0)
	steps := []struct {
		name     string
		lifetime time.Duration
		now      float64
		err      error
		expires  float64
	}{
		{"extend", 3600 * time.Second, 100, nil, 3700},
		{"shorten", 600 * time.Second, 200, nil, 800},
		{"zero is not a refresh", 0, 300, ErrInvalidLifetime, 800},
		{"above max", 3601 * time.Second, 300, ErrInvalidLifetime, 800},
		{"at deadline", 600 * time.Second, 800, ErrGone, 800},
	}
	for _, s := range steps {
		if err := tab.Refresh(a, s.lifetime, secs(s.now)); err != s.err {
			t.Errorf("%s: Refresh = %v, want %v", s.name, errName(err), errName(s.err))
		}
		if a.Expires() != secs(s.expires) {
			t.Errorf("%s: Expires = %v, want %v", s.name, a.Expires(), secs(s.expires))
		}
	}
	// The queue entry still has the original 600 s deadline: an early wake
	// that finds nothing and re-keys to the shortened deadline.
	if d, ok := tab.NextDeadline(); !ok || d != secs(600) {
		t.Errorf("NextDeadline = %v, %v; want 600 s", d, ok)
	}
	if got := tab.Expire(secs(600), nil); len(got) != 0 {
		t.Errorf("Expire(600) = %v, want nothing", got)
	}
	if d, ok := tab.NextDeadline(); !ok || d != secs(800) {
		t.Errorf("NextDeadline = %v, %v; want 800 s", d, ok)
	}
	if got := tab.Expire(secs(800), nil); len(got) != 1 || got[0] != a {
		t.Errorf("Expire = %v", got)
	}
	other := newTable(t, Config{})
	b := mustCreate(t, other, specFor(ft, "u"), 0)
	if err := tab.Refresh(b, time.Minute, 0); err != ErrGone {
		t.Errorf("Refresh of another table's allocation = %v", err)
	}
	if err := tab.Refresh(nil, time.Minute, 0); err != ErrGone {
		t.Errorf("Refresh(nil) = %v", err)
	}
}

func TestDelete(t *testing.T) {
	tab := newTable(t, Config{})
	ft := tupleN(1)
	a := mustCreate(t, tab, specFor(ft, "u"), 0)
	if err := a.Permit(addrs("192.0.2.200"), 0); err != nil {
		t.Fatal(err)
	}
	if err := a.Bind(0x4000, ap("192.0.2.201:9"), 0); err != nil {
		t.Fatal(err)
	}
	if err := tab.Delete(a, secs(10)); err != nil {
		t.Fatalf("Delete = %v", err)
	}
	// RFC 8656 §8.3: gone at once; a retransmitted delete gets 437.
	if tab.Lookup(ft, secs(10)) != nil || !a.Closed() {
		t.Errorf("deleted allocation still visible")
	}
	if err := tab.Delete(a, secs(10)); err != ErrGone {
		t.Errorf("second Delete = %v, want ErrGone", err)
	}
	if err := tab.Refresh(a, time.Minute, secs(10)); err != ErrGone {
		t.Errorf("Refresh after Delete = %v, want ErrGone", err)
	}
	if a.Permitted(netip.MustParseAddr("192.0.2.200"), secs(10)) {
		t.Errorf("a deleted allocation permits nothing")
	}
	if _, ok := a.ChannelPeer(0x4000, secs(10)); ok {
		t.Errorf("a deleted allocation has no channels")
	}
	if err := a.Permit(addrs("192.0.2.200"), secs(10)); err != ErrGone {
		t.Errorf("Permit after Delete = %v", err)
	}
	if err := a.Bind(0x4001, ap("192.0.2.201:9"), secs(10)); err != ErrGone {
		t.Errorf("Bind after Delete = %v", err)
	}
	if st := tab.Stats(); st != (Stats{}) {
		t.Errorf("Stats after Delete = %+v, want zero", st)
	}
	if got := tab.Expire(secs(10000), nil); len(got) != 0 {
		t.Errorf("Expire must not hand back a deleted allocation: %v", got)
	}
	if _, ok := tab.NextDeadline(); ok {
		t.Errorf("NextDeadline on an empty table")
	}
	b := mustCreate(t, tab, specFor(ft, "u"), secs(11))
	if tab.Lookup(ft, secs(11)) != b {
		t.Errorf("the tuple must be free again")
	}
	// An allocation expired at now is left for Expire.
	if err := tab.Delete(b, secs(611)); err != ErrGone || b.Closed() {
		t.Errorf("Delete at the deadline = %v (closed %v), want ErrGone and left for Expire", err, b.Closed())
	}
	if got := tab.Expire(secs(611), nil); len(got) != 1 || got[0] != b {
		t.Errorf("Expire = %v", got)
	}
}
