// Package turnclienttest holds the waiting helpers of tests that drive a
// relay over real sockets with package turnclient: the next event of a
// client within a deadline, and polling for what the relay's packet loops
// and the kernel do asynchronously (a datagram handled, a port released, a
// connection closed). Protocol time is never waited for: it belongs on the
// relay's fake clock.
package turnclienttest

import (
	"context"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/turnclient"
)

// Event waits up to d for c's next event; ok is false on timeout.
func Event(tb testing.TB, c *turnclient.Client, buf []byte, d time.Duration) (ev turnclient.Event, ok bool) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	ev, err := c.Receive(ctx, buf)
	if err == context.DeadlineExceeded {
		return ev, false
	}
	if err != nil {
		tb.Fatalf("receive: %v", err)
	}
	return ev, true
}

// MustEvent is Event that fails the test after 3 s.
func MustEvent(tb testing.TB, c *turnclient.Client, buf []byte) turnclient.Event {
	tb.Helper()
	ev, ok := Event(tb, c, buf, 3*time.Second)
	if !ok {
		tb.Fatal("no event from the relay within 3 s")
	}
	return ev
}

// ExpectNoEvent fails the test if c gets an event within 300 ms.
func ExpectNoEvent(tb testing.TB, c *turnclient.Client, what string) {
	tb.Helper()
	if ev, ok := Event(tb, c, make([]byte, 2048), 300*time.Millisecond); ok {
		tb.Fatalf("%s: got %+v, want nothing", what, ev)
	}
}

// WaitUntil polls cond every 2 ms for up to 3 s. It is the one polling loop
// of these tests: counters are updated by the relay's packet loops after the
// client already got its answer, and ports and connections close when the
// kernel says so.
func WaitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(3 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
