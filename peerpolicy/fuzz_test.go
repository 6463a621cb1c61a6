package peerpolicy

import (
	"net/netip"
	"testing"
)

// fuzzConfig exercises every path: both operator lists, own addresses of both
// families and a relay port range.
func fuzzConfig() Config {
	cfg := relayConfig("1.2.3.4", "2606:4700::1")
	cfg.Allow = prefixes("10.1.0.0/16", "fd00::/8", "2002:a01::/32")
	cfg.Deny = prefixes("8.8.0.0/16", "::ffff:9.9.9.0/120", "2a00::/16")
	return cfg
}

// FuzzCheck feeds arbitrary 16-byte addresses and ports. It asserts that no
// input panics, that every verdict has a label, and that an IPv4-mapped
// address gets exactly the verdict of its IPv4 address (RFC 4291 §2.5.5.2:
// they name the same host).
func FuzzCheck(f *testing.F) {
	filter := mustFilter(f, fuzzConfig())
	for _, s := range []string{"::ffff:169.254.169.254", "64:ff9b:1::a00:1", "2002:a01:203::1", "::1", "fe80::1"} {
		b := netip.MustParseAddr(s).As16()
		f.Add(b[:], uint16(3478))
	}
	f.Fuzz(func(t *testing.T, raw []byte, port uint16) {
		var b [16]byte
		copy(b[:], raw)
		ip := netip.AddrFrom16(b)
		for _, v := range []Verdict{filter.CheckIP(ip), filter.CheckAddrPort(netip.AddrPortFrom(ip, port))} {
			if v >= VerdictCount {
				t.Fatalf("%s: verdict %d out of range", ip, v)
			}
		}

		v4 := netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		mapped := netip.AddrFrom16(v4.As16())
		if got, want := filter.CheckIP(mapped), filter.CheckIP(v4); got != want {
			t.Fatalf("CheckIP(%s) = %s, CheckIP(%s) = %s", mapped, got, v4, want)
		}
		got := filter.CheckAddrPort(netip.AddrPortFrom(mapped, port))
		want := filter.CheckAddrPort(netip.AddrPortFrom(v4, port))
		if got != want {
			t.Fatalf("CheckAddrPort(%s:%d) = %s, for %s: %s", mapped, port, got, v4, want)
		}
	})
}

// allocCases spans every code path: each family, each embedding, operator
// lists, own addresses and structural denials.
var allocCases = []string{
	"8.8.8.8:53", "10.1.2.3:80", "169.254.169.254:80", "1.2.3.4:3478", "1.2.3.4:50000",
	"[::ffff:127.0.0.1]:80", "[::10.0.0.1]:80", "[64:ff9b::8.8.4.4]:53", "[64:ff9b:1:808:8:808:808:808]:53",
	"[2002:a01:203::1]:80", "[2001::1]:80", "[2606:4700::1111]:443", "[fe80::1%eth0]:80", "[4000::1]:0",
}

func TestCheckDoesNotAllocate(t *testing.T) {
	f := mustFilter(t, fuzzConfig())
	for _, s := range allocCases {
		ap := netip.MustParseAddrPort(s)
		if n := testing.AllocsPerRun(100, func() { f.CheckAddrPort(ap) }); n != 0 {
			t.Errorf("CheckAddrPort(%s) allocates %.1f times", s, n)
		}
		if n := testing.AllocsPerRun(100, func() { f.CheckIP(ap.Addr()) }); n != 0 {
			t.Errorf("CheckIP(%s) allocates %.1f times", ap.Addr(), n)
		}
	}
}

func BenchmarkCheckAddrPort(b *testing.B) {
	f := mustFilter(b, fuzzConfig())
	for _, s := range []string{"8.8.8.8:53", "[2606:4700::1111]:443", "[64:ff9b:1:808:8:808:808:808]:53"} {
		ap := netip.MustParseAddrPort(s)
		b.Run(s, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				f.CheckAddrPort(ap)
			}
		})
	}
}
