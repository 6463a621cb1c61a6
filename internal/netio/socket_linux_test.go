package netio

import (
	"errors"
	"math"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestListenUDPOptions(t *testing.T) {
	type opt struct {
		level, opt, want int
	}
	tests := []struct {
		name  string
		addr  netip.AddrPort
		opts  Options
		is6   bool
		check []opt
	}{
		{"v4 defaults", any4, Options{}, false, []opt{{unix.IPPROTO_IP, unix.IP_RECVERR, 0}, {unix.SOL_SOCKET, unix.SO_REUSEPORT, 0}}},
		{"v4 all", any4, Options{ReusePort: true, RecvErr: true, DontFragment: true}, false, []opt{
			{unix.IPPROTO_IP, unix.IP_RECVERR, 1},
			{unix.SOL_SOCKET, unix.SO_REUSEPORT, 1},
			{unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO},
		}},
		{"v4-mapped binds IPv4", netip.MustParseAddrPort("[::ffff:127.0.0.1]:0"), Options{}, false, nil},
		{"v6 defaults", any6, Options{}, true, []opt{{unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1}, {unix.IPPROTO_IPV6, unix.IPV6_RECVERR, 0}}},
		{"v6 all", any6, Options{ReusePort: true, RecvErr: true, DontFragment: true}, true, []opt{
			{unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1},
			{unix.IPPROTO_IPV6, unix.IPV6_RECVERR, 1},
			{unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG, 1},
			{unix.SOL_SOCKET, unix.SO_REUSEPORT, 1},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := listen(t, tc.addr, tc.opts)
			local := s.LocalAddr()
			if local.Port() == 0 || local.Addr() != tc.addr.Addr().Unmap() || local.Addr().Is6() != tc.is6 {
				t.Fatalf("LocalAddr = %v for %v", local, tc.addr)
			}
			for _, o := range tc.check {
				if got := sockoptInt(t, s, o.level, o.opt); got != o.want {
					t.Errorf("option %d/%d = %d, want %d", o.level, o.opt, got, o.want)
				}
			}
			flags, err := unix.FcntlInt(uintptr(s.Fd()), unix.F_GETFL, 0)
			if err != nil || flags&unix.O_NONBLOCK == 0 {
				t.Errorf("socket is not non-blocking: flags %#x, %v", flags, err)
			}
		})
	}
}

func TestListenUDPBuffers(t *testing.T) {
	s := listen(t, any4, Options{RecvBuffer: 1 << 18, SendBuffer: 1 << 17})
	// The kernel doubles the value (socket(7)); rmem_max may cap it.
	if got := sockoptInt(t, s, unix.SOL_SOCKET, unix.SO_RCVBUF); got < 1<<17 {
		t.Errorf("SO_RCVBUF = %d", got)
	}
	if got := sockoptInt(t, s, unix.SOL_SOCKET, unix.SO_SNDBUF); got < 1<<17 {
		t.Errorf("SO_SNDBUF = %d", got)
	}
}

func TestListenUDPRejects(t *testing.T) {
	tests := []struct {
		name string
		addr netip.AddrPort
		opts Options
		want string
	}{
		{"invalid address", netip.AddrPort{}, Options{}, "not an IP address"},
		{"zone", netip.MustParseAddrPort("[fe80::1%lo]:0"), Options{}, "zone"},
		{"negative RecvBuffer", any4, Options{RecvBuffer: -1}, "Options.RecvBuffer"},
		{"negative SendBuffer", any4, Options{SendBuffer: -1}, "Options.SendBuffer"},
		{"huge RecvBuffer", any4, Options{RecvBuffer: math.MaxInt32}, "Options.RecvBuffer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ListenUDP(tc.addr, tc.opts)
			if err == nil {
				s.Close()
				t.Fatal("ListenUDP succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// TestListenUDPAddrInUse checks the error a relay retries on when a port of
// its range is taken, and that SO_REUSEPORT sockets share a port.
func TestListenUDPAddrInUse(t *testing.T) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			first := listen(t, fam.addr, Options{})
			s, err := ListenUDP(first.LocalAddr(), Options{})
			if err == nil {
				s.Close()
				t.Fatal("second bind to a taken port succeeded")
			}
			if !errors.Is(err, unix.EADDRINUSE) {
				t.Fatalf("error %v is not EADDRINUSE", err)
			}
			shared := listen(t, fam.addr, Options{ReusePort: true})
			again := listen(t, shared.LocalAddr(), Options{ReusePort: true})
			if again.LocalAddr() != shared.LocalAddr() {
				t.Fatalf("SO_REUSEPORT sockets on %v and %v", shared.LocalAddr(), again.LocalAddr())
			}
		})
	}
}

func TestCloseIdempotent(t *testing.T) {
	s, err := ListenUDP(any4, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := s.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
}

// TestCloseDefersWhileInFlight checks that Close does not close the
// descriptor under a call in flight, and that the call's end closes it.
func TestCloseDefersWhileInFlight(t *testing.T) {
	s, err := ListenUDP(any4, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fd := s.Fd()
	if !s.acquire() {
		t.Fatal("acquire on an open socket failed")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		t.Fatalf("descriptor closed under a call in flight: %v", err)
	}
	if s.acquire() {
		t.Fatal("acquire after Close succeeded")
	}
	s.release()
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); !errors.Is(err, unix.EBADF) {
		t.Fatalf("descriptor still open after the last call ended: %v", err)
	}
}

// TestCloseRacesWithCalls hammers a socket from several goroutines while it
// is closed; run with -race. Every goroutine must end with ErrClosed.
func TestCloseRacesWithCalls(t *testing.T) {
	for round := 0; round < 20; round++ {
		s, err := ListenUDP(any4, Options{RecvErr: true})
		if err != nil {
			t.Fatal(err)
		}
		p := newPoller(t)
		if err := p.Add(s, 1); err != nil {
			t.Fatal(err)
		}
		to := s.LocalAddr()
		// Each goroutine loops until its call reports ErrClosed; a call
		// that kept working after Close would never end.
		var wg sync.WaitGroup
		started := make(chan struct{}, 3)
		loop := func(call func() error) {
			defer wg.Done()
			for i := 0; ; i++ {
				if i == 10 {
					started <- struct{}{}
				}
				if errors.Is(call(), ErrClosed) {
					return
				}
			}
		}
		b := newBatch(t, 8, 64, 0)
		var scratch Scratch
		var entry ErrQueueEntry
		wg.Add(3)
		go loop(func() error { _, err := s.RecvBatch(b); return err })
		go loop(func() error { return s.SendTo([]byte("x"), to, &scratch) })
		go loop(func() error { _, err := s.ReadErrQueue(&entry); return err })
		for i := 0; i < 3; i++ {
			<-started
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(waitTimeout):
			t.Fatal("calls kept running after Close")
		}
		if err := p.Remove(s); !errors.Is(err, ErrNotRegistered) {
			t.Fatalf("Remove after Close = %v, want ErrNotRegistered (Close unregisters)", err)
		}
	}
}

// TestSetDontFragmentAfterBind checks that DF can be switched on for a bound
// socket of either family, and that a closed socket says so.
func TestSetDontFragmentAfterBind(t *testing.T) {
	for _, tc := range []struct {
		addr       netip.AddrPort
		level, opt int
		want       int
	}{
		{any4, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO},
		{any6, unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG, 1},
	} {
		s := listen(t, tc.addr, Options{})
		if got := sockoptInt(t, s, tc.level, tc.opt); got == tc.want {
			t.Fatalf("%v: DF already on before SetDontFragment", tc.addr)
		}
		if err := s.SetDontFragment(); err != nil {
			t.Fatal(err)
		}
		if got := sockoptInt(t, s, tc.level, tc.opt); got != tc.want {
			t.Errorf("%v: option = %d after SetDontFragment, want %d", tc.addr, got, tc.want)
		}
		s.Close()
		if err := s.SetDontFragment(); !errors.Is(err, ErrClosed) {
			t.Errorf("SetDontFragment after Close = %v, want ErrClosed", err)
		}
	}
}
