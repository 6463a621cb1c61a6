package netio

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
)

func TestSendAddressFamily(t *testing.T) {
	s4, s6 := listen(t, any4, Options{}), listen(t, any6, Options{})
	tests := []struct {
		name string
		s    *Socket
		to   netip.AddrPort
		ok   bool
	}{
		{"v4 to v4", s4, netip.MustParseAddrPort("127.0.0.1:9"), true},
		{"v4 to v4-mapped", s4, netip.MustParseAddrPort("[::ffff:127.0.0.1]:9"), true},
		{"v4 to v6", s4, netip.MustParseAddrPort("[::1]:9"), false},
		{"v4 to invalid", s4, netip.AddrPort{}, false},
		{"v6 to v6", s6, netip.MustParseAddrPort("[::1]:9"), true},
		{"v6 to v4", s6, netip.MustParseAddrPort("127.0.0.1:9"), false},
		{"v6 to v4-mapped", s6, netip.MustParseAddrPort("[::ffff:127.0.0.1]:9"), false},
		{"v6 to invalid", s6, netip.AddrPort{}, false},
	}
	var scratch Scratch
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.to.IsValid() {
				sink := listen(t, netip.AddrPortFrom(tc.to.Addr().Unmap(), 0), Options{})
				tc.to = netip.AddrPortFrom(tc.to.Addr(), sink.LocalAddr().Port())
			}
			err := tc.s.SendTo([]byte("x"), tc.to, &scratch)
			if tc.ok && err != nil {
				t.Fatalf("SendTo(%v) = %v", tc.to, err)
			}
			if !tc.ok && !errors.Is(err, ErrAddressFamily) {
				t.Fatalf("SendTo(%v) = %v, want ErrAddressFamily", tc.to, err)
			}
			b := newBatch(t, 1, 16, 0)
			b.SetAddr(0, tc.to)
			n, err := tc.s.SendBatch(b, 1)
			if tc.ok && (n != 1 || err != nil) {
				t.Fatalf("SendBatch(%v) = %d, %v", tc.to, n, err)
			}
			if !tc.ok && (n != 0 || !errors.Is(err, ErrAddressFamily)) {
				t.Fatalf("SendBatch(%v) = %d, %v, want 0, ErrAddressFamily", tc.to, n, err)
			}
		})
	}
}

// TestSendBatchStopsAtBadMessage checks the partial-send contract: the
// returned count is the index of the message that failed.
func TestSendBatchStopsAtBadMessage(t *testing.T) {
	a, b := listen(t, any4, Options{}), listen(t, any4, Options{})
	out := newBatch(t, 4, 16, 0)
	dests := []netip.AddrPort{b.LocalAddr(), b.LocalAddr(), netip.MustParseAddrPort("[::1]:9"), b.LocalAddr()}
	for i, d := range dests {
		n := copy(out.Buffer(i), []string{"a", "b", "c", "d"}[i])
		if err := out.SetData(i, 0, n); err != nil {
			t.Fatal(err)
		}
		out.SetAddr(i, d)
	}
	n, err := a.SendBatch(out, 4)
	if n != 2 || !errors.Is(err, ErrAddressFamily) {
		t.Fatalf("SendBatch = %d, %v; want 2, ErrAddressFamily", n, err)
	}
	got, _ := recvN(t, b, newBatch(t, 4, 16, 0), 2)
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("received %q", got)
	}
}

func TestSendBatchCount(t *testing.T) {
	a := listen(t, any4, Options{})
	b := newBatch(t, 2, 16, 0)
	for _, n := range []int{-1, 3} {
		if got, err := a.SendBatch(b, n); got != 0 || !errors.Is(err, ErrBounds) {
			t.Errorf("SendBatch(n=%d) = %d, %v; want ErrBounds", n, got, err)
		}
	}
	if got, err := a.SendBatch(b, 0); got != 0 || err != nil {
		t.Errorf("SendBatch(n=0) = %d, %v", got, err)
	}
}
