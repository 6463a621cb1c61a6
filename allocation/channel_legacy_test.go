package allocation

import (
	"errors"
	"net/netip"
	"testing"
)

// TestLegacyChannelsOptIn checks that 0x5000–0x7FFF are refused by default
// (RFC 8656 §12) and accepted only with Config.LegacyChannels (RFC 5766).
func TestLegacyChannelsOptIn(t *testing.T) {
	peer := netip.MustParseAddrPort("192.0.2.10:5000")
	for _, legacy := range []bool{false, true} {
		cfg := Defaults
		cfg.LegacyChannels = legacy
		tab, err := NewTable(cfg)
		if err != nil {
			t.Fatal(err)
		}
		a, err := tab.Create(Spec{
			FiveTuple: FiveTuple{Client: netip.MustParseAddrPort("198.51.100.1:4000"), Server: netip.MustParseAddrPort("203.0.113.1:3478"), Transport: TransportUDP},
			Username:  "u", User: "u",
			Relayed4: netip.MustParseAddrPort("203.0.113.1:50000"),
			Lifetime: cfg.DefaultLifetime,
		}, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i, tc := range []struct {
			ch     uint16
			strict bool
			legacy bool
		}{{0x4FFF, true, true}, {0x5000, false, true}, {0x7FFF, false, true}, {0x8000, false, false}} {
			p := netip.AddrPortFrom(peer.Addr(), peer.Port()+uint16(i))
			err := a.Bind(tc.ch, p, 0)
			want := tc.strict
			if legacy {
				want = tc.legacy
			}
			if (err == nil) != want {
				t.Errorf("legacy=%v Bind(%#x) = %v", legacy, tc.ch, err)
			}
			if err != nil && !errors.Is(err, ErrBadChannel) {
				t.Errorf("legacy=%v Bind(%#x) = %v, want ErrBadChannel", legacy, tc.ch, err)
			}
		}
	}
}
