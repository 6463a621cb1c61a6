package netio

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestPollerManySockets registers 500 sockets and checks that events are
// routed by token to exactly the sockets that received data, and that a
// drained level-triggered poller is quiet.
func TestPollerManySockets(t *testing.T) {
	const count = 500
	p := newPoller(t)
	sender := listen(t, any4, Options{})
	sockets := make([]*Socket, count)
	tokenOf := func(i int) uint64 { return uint64(i)*7919 + 3 }
	for i := range sockets {
		sockets[i] = listen(t, any4, Options{})
		if err := p.Add(sockets[i], tokenOf(i)); err != nil {
			t.Fatalf("Add #%d: %v", i, err)
		}
	}
	want := map[uint64]int{} // token -> socket index, for every third socket
	var scratch Scratch
	for i := 0; i < count; i += 3 {
		want[tokenOf(i)] = i
		if err := sender.SendTo([]byte(fmt.Sprint(i)), sockets[i].LocalAddr(), &scratch); err != nil {
			t.Fatal(err)
		}
	}
	b := newBatch(t, 4, 64, 0)
	events := make([]Event, 64)
	seen := map[uint64]bool{}
	deadline := time.Now().Add(waitTimeout)
	for len(seen) < len(want) && time.Now().Before(deadline) {
		n, err := p.Wait(events, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events[:n] {
			i, ok := want[ev.Token]
			if !ok {
				t.Fatalf("event for token %d, which received nothing", ev.Token)
			}
			if ev.Socket != sockets[i] || !ev.Readable || ev.Error {
				t.Fatalf("event %+v for socket %d", ev, i)
			}
			got, err := ev.Socket.RecvBatch(b)
			if got != 1 || err != nil || string(b.Data(0)) != fmt.Sprint(i) {
				t.Fatalf("socket %d: RecvBatch = %d, %v", i, got, err)
			}
			seen[ev.Token] = true
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("events for %d of %d sockets", len(seen), len(want))
	}
	if n, err := p.Wait(events, 0); n != 0 || err != nil {
		t.Fatalf("Wait after draining = %d, %v", n, err)
	}
	// Remove half, then Close all (the rest unregister on Close).
	for i := 0; i < count; i += 2 {
		if err := p.Remove(sockets[i]); err != nil {
			t.Fatalf("Remove #%d: %v", i, err)
		}
	}
	for _, s := range sockets {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	p.mu.Lock()
	live := 0
	for _, r := range p.slots {
		if r.live {
			live++
		}
	}
	p.mu.Unlock()
	if live != 0 {
		t.Fatalf("%d registrations left after closing every socket", live)
	}
}

// TestPollerLevelTriggered: a socket read only partly is reported again.
func TestPollerLevelTriggered(t *testing.T) {
	p := newPoller(t)
	a, b := listen(t, any4, Options{}), listen(t, any4, Options{})
	if err := p.Add(b, 5); err != nil {
		t.Fatal(err)
	}
	var scratch Scratch
	for _, m := range []string{"1", "2"} {
		if err := a.SendTo([]byte(m), b.LocalAddr(), &scratch); err != nil {
			t.Fatal(err)
		}
	}
	one := newBatch(t, 1, 16, 0)
	for _, want := range []string{"1", "2"} {
		waitFor(t, p, 5, waitTimeout, isReadable)
		if n, err := b.RecvBatch(one); n != 1 || err != nil || string(one.Data(0)) != want {
			t.Fatalf("RecvBatch = %d, %v, %q; want %q", n, err, one.Data(0), want)
		}
	}
	if n, err := p.Wait(make([]Event, 4), 0); n != 0 || err != nil {
		t.Fatalf("Wait after draining = %d, %v", n, err)
	}
}

func TestPollerWake(t *testing.T) {
	p := newPoller(t)
	result := make(chan error, 1)
	go func() {
		n, err := p.Wait(make([]Event, 4), -1)
		if err == nil && n != 0 {
			err = fmt.Errorf("woken Wait returned %d events", n)
		}
		result <- err
	}()
	waitUntilWaiting(t, p)
	if err := p.Wake(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Wake did not interrupt Wait")
	}
	// Wakes before a Wait collapse into one, which the Wait consumes.
	for i := 0; i < 3; i++ {
		if err := p.Wake(); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := p.Wait(make([]Event, 4), waitTimeout); n != 0 || err != nil {
		t.Fatalf("Wait after Wake = %d, %v", n, err)
	}
	var counter [8]byte
	if _, err := unix.Read(p.wakefd, counter[:]); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("eventfd still readable after Wait consumed the wake-up: %v", err)
	}
}

func TestPollerCloseInterruptsWait(t *testing.T) {
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	s := listen(t, any4, Options{})
	if err := p.Add(s, 1); err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	go func() {
		_, err := p.Wait(make([]Event, 4), -1)
		result <- err
	}()
	waitUntilWaiting(t, p)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("interrupted Wait = %v, want ErrClosed", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Close did not interrupt Wait")
	}
	events := make([]Event, 1)
	if _, err := p.Wait(events, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait after Close = %v", err)
	}
	if err := p.Wake(); !errors.Is(err, ErrClosed) {
		t.Errorf("Wake after Close = %v", err)
	}
	if err := p.Add(listen(t, any4, Options{}), 2); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close = %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	// The socket outlives the poller and may join another.
	if err := p.Remove(s); err != nil {
		t.Errorf("Remove from a closed poller = %v", err)
	}
	if err := newPoller(t).Add(s, 3); err != nil {
		t.Errorf("Add to a new poller after the old one closed = %v", err)
	}
}

// TestPollerFdReuse closes a readable registered socket and opens a new one
// that gets the same descriptor number: the old token must never be
// reported, and the new socket's events carry the new token.
func TestPollerFdReuse(t *testing.T) {
	p := newPoller(t)
	sender := listen(t, any4, Options{})
	old, err := ListenUDP(any4, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Add(old, 1); err != nil {
		t.Fatal(err)
	}
	var scratch Scratch
	if err := sender.SendTo([]byte("old"), old.LocalAddr(), &scratch); err != nil {
		t.Fatal(err)
	}
	waitFor(t, p, 1, waitTimeout, isReadable) // the kernel has the event ready
	oldFd := old.Fd()
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	reused := listen(t, any4, Options{})
	if reused.Fd() != oldFd {
		t.Fatalf("new socket got descriptor %d, not the closed %d; the test needs the reuse", reused.Fd(), oldFd)
	}
	if err := p.Add(reused, 2); err != nil {
		t.Fatal(err)
	}
	events := make([]Event, 8)
	if n, err := p.Wait(events, 0); n != 0 || err != nil {
		t.Fatalf("Wait = %d, %v, %+v; want nothing", n, err, events[:n])
	}
	if err := sender.SendTo([]byte("new"), reused.LocalAddr(), &scratch); err != nil {
		t.Fatal(err)
	}
	ev := waitFor(t, p, 2, waitTimeout, isReadable)
	if ev.Socket != reused {
		t.Fatalf("event for token 2 names another socket")
	}
}

// TestPollerDropsStaleKeys drives translate with an event the kernel had
// queued for a registration that was removed and whose slot was reused.
func TestPollerDropsStaleKeys(t *testing.T) {
	p := newPoller(t)
	a, b := listen(t, any4, Options{}), listen(t, any4, Options{})
	if err := p.Add(a, 1); err != nil {
		t.Fatal(err)
	}
	staleKey := registrationKey(a.member.index, a.member.gen)
	if err := p.Remove(a); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(b, 2); err != nil {
		t.Fatal(err)
	}
	if b.member.index != uint32(staleKey-1) {
		t.Fatalf("slot not reused: %d", b.member.index)
	}
	freshKey := registrationKey(b.member.index, b.member.gen)
	raw := make([]unix.EpollEvent, 4)
	setEventKey(&raw[0], staleKey)
	setEventKey(&raw[1], freshKey)
	setEventKey(&raw[2], registrationKey(99, 1)) // slot never used
	setEventKey(&raw[3], staleKey)
	for i := range raw {
		raw[i].Events = unix.EPOLLIN
	}
	events := make([]Event, 4)
	n, closed := p.translate(raw, events)
	if closed || n != 1 || events[0].Token != 2 || events[0].Socket != b {
		t.Fatalf("translate = %d %v %+v; want only token 2", n, closed, events[:n])
	}
}

// TestPollerRemoveDropsReadyEvent: removing a socket whose event the kernel
// already holds means Wait never reports it.
func TestPollerRemoveDropsReadyEvent(t *testing.T) {
	p := newPoller(t)
	a, b := listen(t, any4, Options{}), listen(t, any4, Options{})
	if err := p.Add(b, 1); err != nil {
		t.Fatal(err)
	}
	var scratch Scratch
	if err := a.SendTo([]byte("x"), b.LocalAddr(), &scratch); err != nil {
		t.Fatal(err)
	}
	waitFor(t, p, 1, waitTimeout, isReadable)
	if err := p.Remove(b); err != nil {
		t.Fatal(err)
	}
	if n, err := p.Wait(make([]Event, 4), 0); n != 0 || err != nil {
		t.Fatalf("Wait after Remove = %d, %v", n, err)
	}
}

func TestPollerRegistrationErrors(t *testing.T) {
	p, q := newPoller(t), newPoller(t)
	s := listen(t, any4, Options{})
	if err := p.Remove(s); !errors.Is(err, ErrNotRegistered) {
		t.Errorf("Remove of an unregistered socket = %v", err)
	}
	if err := p.Add(s, 1); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(s, 1); !errors.Is(err, ErrAlreadyRegistered) {
		t.Errorf("second Add = %v", err)
	}
	if err := q.Add(s, 1); !errors.Is(err, ErrAlreadyRegistered) {
		t.Errorf("Add to a second poller = %v", err)
	}
	if err := q.Remove(s); !errors.Is(err, ErrNotRegistered) {
		t.Errorf("Remove from the wrong poller = %v", err)
	}
	if err := p.Remove(s); err != nil {
		t.Fatal(err)
	}
	if err := q.Add(s, 1); err != nil {
		t.Errorf("Add after Remove = %v", err)
	}
	closed, err := ListenUDP(any4, Options{})
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	if err := p.Add(closed, 9); !errors.Is(err, ErrClosed) {
		t.Errorf("Add of a closed socket = %v", err)
	}
	if _, err := p.Wait(nil, 0); !errors.Is(err, ErrBounds) {
		t.Errorf("Wait with no room = %v", err)
	}
}

func TestPollerConcurrentWait(t *testing.T) {
	p := newPoller(t)
	done := make(chan error, 1)
	go func() {
		_, err := p.Wait(make([]Event, 1), -1)
		done <- err
	}()
	waitUntilWaiting(t, p)
	if _, err := p.Wait(make([]Event, 1), 0); !errors.Is(err, ErrConcurrentWait) {
		t.Errorf("second concurrent Wait = %v", err)
	}
	if err := p.Wake(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestWaitTimesOut: a Wait with nothing to report returns after about its
// timeout, not at once (no busy loop) and not much later.
func TestWaitTimesOut(t *testing.T) {
	p := newPoller(t)
	s := listen(t, any4, Options{})
	if err := p.Add(s, 1); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n, err := p.Wait(make([]Event, 4), 30*time.Millisecond)
	elapsed := time.Since(start)
	if n != 0 || err != nil {
		t.Fatalf("Wait = %d, %v", n, err)
	}
	if elapsed < 25*time.Millisecond || elapsed > waitTimeout {
		t.Fatalf("Wait(30ms) took %v", elapsed)
	}
}

// waitUntilWaiting returns once another goroutine is inside p.Wait, and then
// gives it a moment to block in epoll_wait, so that the caller exercises
// interrupting a blocked Wait (an earlier Wake or Close is also handled, by
// the same code, so the test cannot pass by luck either way).
func waitUntilWaiting(t *testing.T, p *Poller) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for p.waiting.TryLock() {
		p.waiting.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("Wait never started")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
}
