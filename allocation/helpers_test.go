package allocation

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// secs converts seconds (fractions allowed) to a mono.Time offset from the
// test's origin 0.
func secs(s float64) mono.Time { return mono.Time(s * float64(time.Second)) }

func newTable(t testing.TB, cfg Config) *Table {
	t.Helper()
	tab, err := NewTable(cfg)
	if err != nil {
		t.Fatalf("NewTable: %v", err)
	}
	return tab
}

// tupleN returns distinct UDP 5-tuples from 192.0.2.0/24 to 198.51.100.1:3478.
func tupleN(i int) FiveTuple {
	return FiveTuple{
		Client:    netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), uint16(40000+i/256)),
		Server:    netip.MustParseAddrPort("198.51.100.1:3478"),
		Transport: TransportUDP,
	}
}

var (
	relay4 = netip.MustParseAddrPort("203.0.113.1:50000")
	relay6 = netip.MustParseAddrPort("[2001:db8:ffff::1]:50000")
)

func specFor(ft FiveTuple, user string) Spec {
	return Spec{
		FiveTuple: ft,
		Username:  "1700000000:" + user,
		User:      user,
		Realm:     "example.org",
		Relayed4:  relay4,
		Relayed6:  relay6,
		Lifetime:  600 * time.Second,
	}
}

func mustCreate(t testing.TB, tab *Table, s Spec, now mono.Time) *Allocation {
	t.Helper()
	a, err := tab.Create(s, now)
	if err != nil {
		t.Fatalf("Create(%v): %v", s.FiveTuple, err)
	}
	return a
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		if s != "" {
			out[i] = netip.MustParseAddr(s)
		}
	}
	return out
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func errName(err error) string {
	if err == nil {
		return "nil"
	}
	return fmt.Sprint(err)
}
