package netio

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/turnstile-relay/turnstile/internal/netnstest"
)

// TestDontFragment checks Options.DontFragment against the kernel in a
// namespace whose loopback MTU is 1500: a datagram that fits goes out, a
// larger one fails with EMSGSIZE (and queues a local error carrying the
// MTU), while a socket without the option fragments it and delivers it.
func TestDontFragment(t *testing.T) {
	const mtu = 1500
	leave := netnstest.Enter(t, mtu)
	defer leave()
	tests := []struct {
		fam      family
		fits     int // largest payload below the MTU: MTU - IP header - UDP header
		tooLarge int
		// The kernel's IPv4 local error carries the socket's connected
		// port (0 here); IPv6 carries the datagram's destination port.
		errorHasPort bool
	}{
		{families[0], mtu - 20 - 8, mtu - 20 - 8 + 1, false},
		{families[1], mtu - 40 - 8, mtu - 40 - 8 + 1, true},
	}
	// No t.Run: a subtest runs on another goroutine, outside the namespace.
	for _, tc := range tests {
		func() {
			df := listen(t, tc.fam.addr, Options{DontFragment: true, RecvErr: true})
			plain := listen(t, tc.fam.addr, Options{})
			sink := listen(t, tc.fam.addr, Options{})
			var scratch Scratch
			if err := df.SendTo(make([]byte, tc.fits), sink.LocalAddr(), &scratch); err != nil {
				t.Fatalf("%s: DF send of %d bytes: %v", tc.fam.name, tc.fits, err)
			}
			err := df.SendTo(make([]byte, tc.tooLarge), sink.LocalAddr(), &scratch)
			if !errors.Is(err, unix.EMSGSIZE) {
				t.Fatalf("%s: DF send of %d bytes = %v, want EMSGSIZE", tc.fam.name, tc.tooLarge, err)
			}
			out := newBatch(t, 1, tc.tooLarge, 0)
			out.SetData(0, 0, tc.tooLarge)
			out.SetAddr(0, sink.LocalAddr())
			if n, err := df.SendBatch(out, 1); n != 0 || !errors.Is(err, unix.EMSGSIZE) {
				t.Fatalf("%s: DF SendBatch of %d bytes = %d, %v, want EMSGSIZE", tc.fam.name, tc.tooLarge, n, err)
			}
			var e ErrQueueEntry
			entries := 0
			for {
				ok, err := df.ReadErrQueue(&e)
				if err != nil {
					t.Fatalf("%s: %v", tc.fam.name, err)
				}
				if !ok {
					break
				}
				entries++
				if e.Origin != unix.SO_EE_ORIGIN_LOCAL || e.Errno != unix.EMSGSIZE || e.Info != mtu || e.Offender.IsValid() {
					t.Errorf("%s: entry %+v, want a local EMSGSIZE with Info %d", tc.fam.name, e, mtu)
				}
				want := sink.LocalAddr()
				if !tc.errorHasPort {
					want = netip.AddrPortFrom(want.Addr(), 0)
				}
				if e.Destination != want {
					t.Errorf("%s: Destination %v, want %v", tc.fam.name, e.Destination, want)
				}
			}
			// Two failed sends, each tried twice (see SendTo).
			if entries != 4 {
				t.Errorf("%s: %d local errors queued, want 4", tc.fam.name, entries)
			}
			if err := plain.SendTo([]byte(strings.Repeat("F", tc.tooLarge)), sink.LocalAddr(), &scratch); err != nil {
				t.Fatalf("%s: send of %d bytes without DF: %v", tc.fam.name, tc.tooLarge, err)
			}
			got, from := recvN(t, sink, newBatch(t, 4, 2048, 0), 2)
			if len(got[0]) != tc.fits || from[0] != df.LocalAddr() {
				t.Errorf("%s: first datagram: %d bytes from %v", tc.fam.name, len(got[0]), from[0])
			}
			if got[1] != strings.Repeat("F", tc.tooLarge) || from[1] != plain.LocalAddr() {
				t.Errorf("%s: fragmented datagram: %d bytes from %v", tc.fam.name, len(got[1]), from[1])
			}
		}()
	}
}

// TestSendWouldBlock fills a socket's send buffer with datagrams that wait
// for a neighbour that never answers (a TAP interface in a private
// namespace) and checks that sends report ErrWouldBlock at once instead of
// blocking.
func TestSendWouldBlock(t *testing.T) {
	leave := netnstest.Enter(t, 0)
	defer leave()
	tap := netnstest.OpenTap(t, "nio0")
	defer unix.Close(tap)
	if err := netnstest.ConfigureInterface("nio0", 0, []byte{10, 99, 0, 1}, []byte{255, 255, 255, 0}); err != nil {
		t.Fatal(err)
	}
	s := listen(t, netip.MustParseAddrPort("10.99.0.1:0"), Options{SendBuffer: 4096})
	silent := netip.MustParseAddrPort("10.99.0.2:9")
	var scratch Scratch
	payload := make([]byte, 1000)
	sent := 0
	var err error
	for sent < 1000 {
		if err = s.SendTo(payload, silent, &scratch); err != nil {
			break
		}
		sent++
	}
	if !errors.Is(err, ErrWouldBlock) || sent == 0 {
		t.Fatalf("SendTo stopped after %d datagrams with %v, want ErrWouldBlock", sent, err)
	}
	out := newBatch(t, 8, len(payload), 0)
	for i := 0; i < out.Len(); i++ {
		out.SetData(i, 0, len(payload))
		out.SetAddr(i, silent)
	}
	if n, err := s.SendBatch(out, out.Len()); n != 0 || !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("SendBatch on a full socket = %d, %v, want 0, ErrWouldBlock", n, err)
	}
}
