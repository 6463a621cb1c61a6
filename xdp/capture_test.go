package xdp

import (
	"net/netip"
	"strings"
	"testing"
)

// TestCheckFrameChecksums: the capture's checker accepts frames built with
// correct checksums and finds every kind of wrong one.
func TestCheckFrameChecksums(t *testing.T) {
	v4 := frameSpec{src: netip.MustParseAddrPort("10.0.2.2:3478"), dst: netip.MustParseAddrPort("10.0.1.2:40000"),
		ttl: 62, payload: []byte("\x40\x00\x00\x05hello")}
	v6 := frameSpec{src: netip.MustParseAddrPort("[fd00:2::2]:3478"), dst: netip.MustParseAddrPort("[fd00:1::2]:40000"),
		ttl: 62, payload: []byte("\x40\x00\x00\x05hello")}
	local := v4
	local.ttl = localHops
	corrupt := func(b []byte, at int) []byte { b[at] ^= 0x01; return b }
	for _, c := range []struct {
		name      string
		frame     capturedFrame
		forwarded bool
		err       string // empty: no error
	}{
		{"IPv4 correct", capturedFrame{data: v4.build()}, true, ""},
		{"IPv6 correct", capturedFrame{data: v6.build()}, true, ""},
		{"IPv4 from the relay's stack", capturedFrame{data: local.build()}, false, ""},
		{"IPv4 header checksum", capturedFrame{data: corrupt(v4.build(), 14+10)}, true, "bad IPv4 header checksum"},
		{"IPv4 TTL without checksum update", capturedFrame{data: corrupt(v4.build(), 14+8)}, true, "bad IPv4 header checksum"},
		{"IPv4 UDP checksum", capturedFrame{data: corrupt(v4.build(), 14+20+6)}, true, "bad UDP checksum"},
		{"IPv4 payload", capturedFrame{data: corrupt(v4.build(), len(v4.build())-1)}, true, "bad UDP checksum"},
		{"IPv6 UDP checksum", capturedFrame{data: corrupt(v6.build(), 14+40+7)}, true, "bad UDP checksum"},
		{"IPv6 address", capturedFrame{data: corrupt(v6.build(), 14+8+15)}, true, "bad UDP checksum"},
		{"IPv4 UDP checksum 0", capturedFrame{data: func() []byte { s := v4; s.zeroChecksum = true; return s.build() }()}, true, "no UDP checksum"},
		{"IPv6 UDP checksum 0", capturedFrame{data: func() []byte { s := v6; s.zeroChecksum = true; return s.build() }()}, true, "no UDP checksum"},
		{"UDP length", capturedFrame{data: func() []byte { s := v4; s.udpLenDelta = 2; return s.build() }()}, true, "UDP length"},
		{"trailing bytes", capturedFrame{data: func() []byte { s := v6; s.trailer = 2; return s.build() }()}, false, "payload length"},
		{"partial from the relay's stack", capturedFrame{data: corrupt(local.build(), 14+20+6), partial: true}, false, ""},
		{"partial from the program", capturedFrame{data: v4.build(), partial: true}, true, "checksum not ready"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := checkFrameChecksums(c.frame)
			if c.err == "" {
				if err != nil || !r.udp || r.forwarded != c.forwarded {
					t.Fatalf("%+v, %v; want a checked UDP frame, forwarded %v", r, err, c.forwarded)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("error %v, want one about %q", err, c.err)
			}
		})
	}
}
