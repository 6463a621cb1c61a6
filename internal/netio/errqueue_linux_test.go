package netio

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// icmpProbeAttempts bounds how often a test sends a datagram to a closed
// port before it gives up on getting an ICMP error back. Loopback is exempt
// from the kernel's per-destination ICMP rate limit, but the global limit
// (net.ipv4.icmp_msgs_per_sec) can still eat one; each attempt uses a fresh
// closed port and waits at most icmpProbeWait.
const (
	icmpProbeAttempts = 5
	icmpProbeWait     = 400 * time.Millisecond
)

// provokeICMP sends to closed ports from s (registered on p with token) until
// the kernel reports an error event, and returns the closed destination that
// the last probe went to.
func provokeICMP(t *testing.T, s *Socket, p *Poller, token uint64) netip.AddrPort {
	t.Helper()
	var scratch Scratch
	for attempt := 0; attempt < icmpProbeAttempts; attempt++ {
		dst := closedPort(t, s.LocalAddr())
		if err := s.SendTo([]byte("probe"), dst, &scratch); err != nil {
			t.Fatalf("SendTo(%v): %v", dst, err)
		}
		if _, ok := tryWaitFor(t, p, token, icmpProbeWait, isError); ok {
			return dst
		}
	}
	t.Fatalf("no ICMP error after %d probes to closed ports", icmpProbeAttempts)
	return netip.AddrPort{}
}

// TestICMPPortUnreachable checks the error queue entry for a datagram sent
// to a closed loopback port: ICMPv4 3/3 or ICMPv6 1/4, the original
// destination IP and port, and the offender.
func TestICMPPortUnreachable(t *testing.T) {
	tests := []struct {
		fam              family
		origin           uint8
		icmpType, code   uint8
		wantErrnoRefused bool
	}{
		{families[0], unix.SO_EE_ORIGIN_ICMP, 3, 3, true},
		{families[1], unix.SO_EE_ORIGIN_ICMP6, 1, 4, true},
	}
	for _, tc := range tests {
		t.Run(tc.fam.name, func(t *testing.T) {
			s := listen(t, tc.fam.addr, Options{RecvErr: true})
			p := newPoller(t)
			if err := p.Add(s, 42); err != nil {
				t.Fatal(err)
			}
			dst := provokeICMP(t, s, p, 42)
			var e ErrQueueEntry
			var entries []ErrQueueEntry
			for {
				ok, err := s.ReadErrQueue(&e)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				entries = append(entries, e)
			}
			if len(entries) == 0 {
				t.Fatal("Error event but empty error queue")
			}
			last := entries[len(entries)-1]
			if last.Destination != dst {
				t.Errorf("Destination = %v, want %v", last.Destination, dst)
			}
			for _, got := range entries {
				if got.Origin != tc.origin || got.Type != tc.icmpType || got.Code != tc.code {
					t.Errorf("origin/type/code = %d/%d/%d, want %d/%d/%d", got.Origin, got.Type, got.Code, tc.origin, tc.icmpType, tc.code)
				}
				if got.Errno != unix.ECONNREFUSED {
					t.Errorf("Errno = %v, want ECONNREFUSED", got.Errno)
				}
				if got.Offender != tc.fam.addr.Addr() {
					t.Errorf("Offender = %v, want %v", got.Offender, tc.fam.addr.Addr())
				}
				if got.Info != 0 || got.ControlTruncated {
					t.Errorf("Info = %d, ControlTruncated = %v", got.Info, got.ControlTruncated)
				}
			}
			// Drained: a level-triggered poller must now be quiet.
			if n, err := p.Wait(make([]Event, 4), 0); n != 0 || err != nil {
				t.Fatalf("Wait after draining = %d, %v; want no events", n, err)
			}
		})
	}
}

// TestPendingErrorDoesNotWedge documents what the data path sees when an ICMP
// error is pending while datagrams are queued: RecvBatch returns the
// PendingError once, then the data; sends are not lost to it; the error
// queue still holds the details; and draining it quiets the poller.
func TestPendingErrorDoesNotWedge(t *testing.T) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) {
			s := listen(t, fam.addr, Options{RecvErr: true})
			peer := listen(t, fam.addr, Options{})
			p := newPoller(t)
			if err := p.Add(s, 1); err != nil {
				t.Fatal(err)
			}
			var scratch Scratch
			if err := peer.SendTo([]byte("queued"), s.LocalAddr(), &scratch); err != nil {
				t.Fatal(err)
			}
			waitFor(t, p, 1, waitTimeout, isReadable)
			dst := provokeICMP(t, s, p, 1)

			b := newBatch(t, 4, 64, 0)
			n, err := s.RecvBatch(b)
			var pending PendingError
			if n != 0 || !errors.As(err, &pending) || !errors.Is(err, unix.ECONNREFUSED) {
				t.Fatalf("first RecvBatch = %d, %v; want 0, PendingError(ECONNREFUSED)", n, err)
			}
			n, err = s.RecvBatch(b)
			if n != 1 || err != nil || string(b.Data(0)) != "queued" || b.Addr(0) != peer.LocalAddr() {
				t.Fatalf("second RecvBatch = %d, %v; want the queued datagram", n, err)
			}
			if n, err := s.RecvBatch(b); n != 0 || !errors.Is(err, ErrWouldBlock) {
				t.Fatalf("third RecvBatch = %d, %v; want ErrWouldBlock", n, err)
			}
			var e ErrQueueEntry
			found := false
			for {
				ok, err := s.ReadErrQueue(&e)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				found = found || e.Destination == dst
			}
			if !found {
				t.Fatalf("error queue has no entry for %v", dst)
			}
			if n, err := p.Wait(make([]Event, 4), 0); n != 0 || err != nil {
				t.Fatalf("Wait after draining = %d, %v; want no events", n, err)
			}

			// A send that meets a pending error must still go out.
			provokeICMP(t, s, p, 1)
			if err := s.SendTo([]byte("after"), peer.LocalAddr(), &scratch); err != nil {
				t.Fatalf("SendTo with an error pending: %v", err)
			}
			if got, _ := recvN(t, peer, newBatch(t, 1, 64, 0), 1); got[0] != "after" {
				t.Fatalf("peer got %q", got)
			}
			provokeICMP(t, s, p, 1)
			out := newBatch(t, 1, 64, 0)
			out.SetData(0, 0, copy(out.Buffer(0), "batch"))
			out.SetAddr(0, peer.LocalAddr())
			if n, err := s.SendBatch(out, 1); n != 1 || err != nil {
				t.Fatalf("SendBatch with an error pending = %d, %v", n, err)
			}
			if got, _ := recvN(t, peer, newBatch(t, 1, 64, 0), 1); got[0] != "batch" {
				t.Fatalf("peer got %q", got)
			}
		})
	}
}

// TestDrainFirstSkipsPendingError: draining the error queue before reading
// clears the pending error, so RecvBatch returns the data at once.
func TestDrainFirstSkipsPendingError(t *testing.T) {
	s := listen(t, any4, Options{RecvErr: true})
	peer := listen(t, any4, Options{})
	p := newPoller(t)
	if err := p.Add(s, 1); err != nil {
		t.Fatal(err)
	}
	var scratch Scratch
	if err := peer.SendTo([]byte("queued"), s.LocalAddr(), &scratch); err != nil {
		t.Fatal(err)
	}
	waitFor(t, p, 1, waitTimeout, isReadable)
	provokeICMP(t, s, p, 1)
	var e ErrQueueEntry
	for {
		ok, err := s.ReadErrQueue(&e)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
	}
	b := newBatch(t, 4, 64, 0)
	if n, err := s.RecvBatch(b); n != 1 || err != nil {
		t.Fatalf("RecvBatch after draining = %d, %v; want the datagram", n, err)
	}
}

// TestErrQueueWithoutRecvErr: a socket without RecvErr never queues ICMP
// errors, and reading its empty queue reports false.
func TestErrQueueWithoutRecvErr(t *testing.T) {
	s := listen(t, any4, Options{})
	var scratch Scratch
	if err := s.SendTo([]byte("x"), closedPort(t, any4), &scratch); err != nil {
		t.Fatal(err)
	}
	var e ErrQueueEntry
	if ok, err := s.ReadErrQueue(&e); ok || err != nil {
		t.Fatalf("ReadErrQueue = %v, %v; want false, nil", ok, err)
	}
	b := newBatch(t, 1, 16, 0)
	if n, err := s.RecvBatch(b); n != 0 || !errors.Is(err, ErrWouldBlock) {
		t.Fatalf("RecvBatch = %d, %v; want ErrWouldBlock", n, err)
	}
}
