package allocation

import (
	"slices"
	"testing"
	"time"
)

func TestExpireReturnsExactlyTheExpired(t *testing.T) {
	tab := newTable(t, Config{Shards: 4})
	lifetimes := []time.Duration{600, 1200, 600, 3600, 900, 1200}
	var all []*Allocation
	for i, l := range lifetimes {
		s := specFor(tupleN(i), "u")
		s.Lifetime = l * time.Second
		all = append(all, mustCreate(t, tab, s, 0))
	}
	if err := tab.Refresh(all[2], 1800*time.Second, secs(100)); err != nil { // 600 → 1900
		t.Fatal(err)
	}
	if err := tab.Delete(all[4], secs(100)); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		at   float64
		want []int
		next float64 // -1: empty
	}{
		{599.999, nil, 600},
		{600, []int{0}, 1200},
		{1199, nil, 1200},
		{1200, []int{1, 5}, 1900},
		{1900, []int{2}, 3600},
		{3599, nil, 3600},
		{4000, []int{3}, -1},
	}
	for _, st := range steps {
		got := tab.Expire(secs(st.at), nil)
		var want []*Allocation
		for _, i := range st.want {
			want = append(want, all[i])
		}
		if !sameSet(got, want) {
			t.Errorf("Expire(%v s) = %v, want allocations %v", st.at, got, st.want)
		}
		for _, a := range got {
			if !a.Closed() {
				t.Errorf("expired allocation not closed")
			}
		}
		d, ok := tab.NextDeadline()
		// Early wakes are allowed; here every deadline is exact except the
		// refreshed allocation's, whose entry still says 600 s until the
		// wake at 600 s re-keys it.
		if st.next < 0 && ok || st.next >= 0 && (!ok || d != secs(st.next)) {
			t.Errorf("after Expire(%v s): NextDeadline = %v, %v; want %v s", st.at, d, ok, st.next)
		}
	}
	if tab.Len() != 0 || tab.Stats() != (Stats{}) {
		t.Errorf("table not empty: %+v", tab.Stats())
	}
}

func TestExpireAppendsToDst(t *testing.T) {
	tab := newTable(t, Config{})
	a := mustCreate(t, tab, specFor(tupleN(1), "u"), 0)
	buf := make([]*Allocation, 1, 8)
	got := tab.Expire(secs(600), buf)
	if len(got) != 2 || got[1] != a || &got[0] != &buf[0] {
		t.Errorf("Expire must append to dst: %v", got)
	}
}

func TestNextDeadlineTracksEvents(t *testing.T) {
	tab := newTable(t, Config{})
	if _, ok := tab.NextDeadline(); ok {
		t.Fatal("empty table has a deadline")
	}
	s := specFor(tupleN(1), "u")
	s.Lifetime = 3600 * time.Second
	a := mustCreate(t, tab, s, secs(10))
	check := func(want float64) {
		t.Helper()
		if d, ok := tab.NextDeadline(); !ok || d != secs(want) {
			t.Errorf("NextDeadline = %v, %v; want %v s", d, ok, want)
		}
	}
	check(3610)
	if err := a.Bind(0x4000, ap("198.51.100.1:1"), secs(20)); err != nil {
		t.Fatal(err)
	}
	check(320) // the implied permission
	mustCreate(t, tab, specFor(tupleN(2), "u"), secs(30))
	check(320)
	if err := tab.Refresh(a, 200*time.Second, secs(40)); err != nil { // a now ends at 240
		t.Fatal(err)
	}
	check(240)
	tab.Expire(secs(240), nil)
	check(630)
}

func sameSet(a, b []*Allocation) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
