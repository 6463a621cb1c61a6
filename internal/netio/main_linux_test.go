package netio

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMain fails the package when a test leaves goroutines or file
// descriptors behind: every Socket and Poller a test opens must be closed,
// and deferred closes (a Close racing with a call in flight) must happen.
func TestMain(m *testing.M) {
	// A first timer makes the runtime open its own epoll descriptors;
	// count after that so they are not taken for a leak.
	time.AfterFunc(time.Hour, func() {}).Stop()
	goroutines := runtime.NumGoroutine()
	fds, err := openFds()
	if err != nil {
		fmt.Fprintln(os.Stderr, "netio tests: counting open files:", err)
		os.Exit(2)
	}
	code := m.Run()
	if code == 0 {
		if err := checkLeaks(goroutines, fds); err != nil {
			fmt.Fprintln(os.Stderr, "netio tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// checkLeaks waits up to two seconds for goroutines and descriptors to come
// back to their counts before the tests, then reports what is left.
func checkLeaks(goroutines, fds int) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		g := runtime.NumGoroutine()
		f, err := openFds()
		if err != nil {
			return err
		}
		if g <= goroutines && f <= fds {
			return nil
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			return fmt.Errorf("leak: %d goroutines (was %d), %d open files (was %d)\n%s", g, goroutines, f, fds, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func openFds() (int, error) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	return len(entries), nil
}

// waitTimeout bounds every wait for loopback traffic or an ICMP error. It
// is generous for a loaded CI machine; a passing test never waits for it.
const waitTimeout = 2 * time.Second

var (
	any4 = netip.MustParseAddrPort("127.0.0.1:0")
	any6 = netip.MustParseAddrPort("[::1]:0")
)

// family names a loopback address family for table tests.
type family struct {
	name string
	addr netip.AddrPort // loopback, port 0
}

var families = []family{{"IPv4", any4}, {"IPv6", any6}}

// listen opens a socket and closes it when the test ends. An IPv6 failure
// says so plainly: ::1 is required on every machine that runs these tests.
func listen(t testing.TB, addr netip.AddrPort, opts Options) *Socket {
	t.Helper()
	s, err := ListenUDP(addr, opts)
	if err != nil {
		if addr.Addr().Is6() {
			t.Fatalf("ListenUDP(%v): %v (the IPv6 loopback ::1 must be available to run these tests)", addr, err)
		}
		t.Fatalf("ListenUDP(%v): %v", addr, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close(%v): %v", addr, err)
		}
	})
	return s
}

func newBatch(t testing.TB, n, size, headroom int) *Batch {
	t.Helper()
	b, err := NewBatch(n, size, headroom)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newPoller(t testing.TB) *Poller {
	t.Helper()
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Poller.Close: %v", err)
		}
	})
	return p
}

// closedPort returns a loopback address of the family of addr with a UDP
// port nobody listens on: a port the kernel just handed out and took back.
// The port of addr is ignored.
func closedPort(t testing.TB, addr netip.AddrPort) netip.AddrPort {
	t.Helper()
	s, err := ListenUDP(netip.AddrPortFrom(addr.Addr(), 0), Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := s.LocalAddr()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return a
}

// recvN receives until want datagrams arrived on s, waiting on a private
// poller between reads, and returns them as strings with their sources. It
// fails the test after two seconds.
func recvN(t testing.TB, s *Socket, b *Batch, want int) (data []string, from []netip.AddrPort) {
	t.Helper()
	p := newPoller(t)
	if err := p.Add(s, 1); err != nil {
		t.Fatal(err)
	}
	defer p.Remove(s)
	events := make([]Event, 4)
	deadline := time.Now().Add(waitTimeout)
	for len(data) < want {
		n, err := s.RecvBatch(b)
		if errors.Is(err, ErrWouldBlock) {
			if time.Now().After(deadline) {
				t.Fatalf("received %d of %d datagrams", len(data), want)
			}
			if _, err := p.Wait(events, 100*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("RecvBatch: %v", err)
		}
		for i := 0; i < n; i++ {
			if b.Truncated(i) {
				t.Fatalf("datagram %d truncated", i)
			}
			data = append(data, string(b.Data(i)))
			from = append(from, b.Addr(i))
		}
	}
	return data, from
}

// waitFor waits on p until an event for token satisfies want, failing the
// test after timeout. Events for other tokens are ignored.
func waitFor(t testing.TB, p *Poller, token uint64, timeout time.Duration, want func(Event) bool) Event {
	t.Helper()
	ev, ok := tryWaitFor(t, p, token, timeout, want)
	if !ok {
		t.Fatalf("no matching event for token %d within %v", token, timeout)
	}
	return ev
}

func tryWaitFor(t testing.TB, p *Poller, token uint64, timeout time.Duration, want func(Event) bool) (Event, bool) {
	t.Helper()
	events := make([]Event, 64)
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return Event{}, false
		}
		n, err := p.Wait(events, left)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		for _, ev := range events[:n] {
			if ev.Token == token && want(ev) {
				return ev, true
			}
		}
	}
}

func isReadable(ev Event) bool { return ev.Readable }
func isError(ev Event) bool    { return ev.Error }

// sockoptInt reads an integer socket option for assertions.
func sockoptInt(t testing.TB, s *Socket, level, opt int) int {
	t.Helper()
	v, err := unix.GetsockoptInt(s.Fd(), level, opt)
	if err != nil {
		t.Fatalf("getsockopt(%d, %d): %v", level, opt, err)
	}
	return v
}
