package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/logging"
	"github.com/turnstile-relay/turnstile/relay"
)

func testAllocation(username string, created mono.Time) *allocation.Allocation {
	return &allocation.Allocation{
		FiveTuple: allocation.FiveTuple{
			Client:    netip.MustParseAddrPort("192.0.2.10:40000"),
			Server:    netip.MustParseAddrPort("192.0.2.1:3478"),
			Transport: allocation.TransportUDP,
		},
		Username: username,
		Relayed4: netip.MustParseAddrPort("192.0.2.1:50000"),
		Created:  created,
	}
}

func TestAllocationLogLines(t *testing.T) {
	hostile := "1700000000:eve\"\n{\"severity\":\"ERROR\",\"message\":\"forged\"}\x00\u2028"
	long := strings.Repeat("u", 300)
	for _, tc := range []struct {
		name     string
		ev       relay.Event
		want     map[string]any
		wantUser string
	}{
		{
			"created",
			relay.Event{Kind: relay.EventCreated, Allocation: testAllocation("alice", 0), At: 0},
			map[string]any{"message": "allocation created", "severity": "INFO", "client": "192.0.2.10:40000",
				"transport": "udp", "relayed_ipv4": "192.0.2.1:50000"},
			"alice",
		},
		{
			"deleted with lifetime",
			relay.Event{Kind: relay.EventDeleted, Allocation: testAllocation("alice", mono.Time(time.Second)), At: mono.Time(91 * time.Second)},
			map[string]any{"message": "allocation ended", "reason": "deleted", "lifetime_seconds": 90.0},
			"alice",
		},
		{
			"expired",
			relay.Event{Kind: relay.EventExpired, Allocation: testAllocation("bob", 0), At: mono.Time(600 * time.Second)},
			map[string]any{"message": "allocation ended", "reason": "expired", "lifetime_seconds": 600.0},
			"bob",
		},
		{
			"hostile username stays one escaped field",
			relay.Event{Kind: relay.EventCreated, Allocation: testAllocation(hostile, 0)},
			map[string]any{"message": "allocation created", "severity": "INFO"},
			hostile,
		},
		{
			"long username is capped",
			relay.Event{Kind: relay.EventCreated, Allocation: testAllocation(long, 0)},
			map[string]any{"message": "allocation created"},
			long[:logging.MaxUntrustedBytes] + "...[truncated, 300 bytes]",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out lockedBuffer
			l, err := newAllocationLog(logging.New(&out, logging.LevelInfo))
			if err != nil {
				t.Fatal(err)
			}
			l.offer(tc.ev)
			l.close()
			lines := out.lines(t)
			if len(lines) != 1 {
				t.Fatalf("%d lines, want 1", len(lines))
			}
			for k, want := range tc.want {
				if lines[0][k] != want {
					t.Errorf("%s = %v, want %v", k, lines[0][k], want)
				}
			}
			if lines[0]["user"] != tc.wantUser {
				t.Errorf("user = %q, want %q", lines[0]["user"], tc.wantUser)
			}
			if _, ok := lines[0]["key"]; ok {
				t.Error("the long-term key must never be logged")
			}
		})
	}
}

func TestAllocationLogSkips(t *testing.T) {
	var out lockedBuffer
	l, err := newAllocationLog(logging.New(&out, logging.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	l.offer(relay.Event{Kind: relay.EventRefreshed, Allocation: testAllocation("a", 0)})
	l.offer(relay.Event{Kind: relay.EventCreated})
	l.close()
	if n := len(out.lines(t)); n != 0 {
		t.Fatalf("%d lines for a refresh and an event without allocation, want 0", n)
	}
}

// TestAllocationLogRateLimit: a burst in one second writes at most
// allocationLogRate lines per kind, and the next line that passes carries
// the number suppressed.
func TestAllocationLogRateLimit(t *testing.T) {
	var out lockedBuffer
	l, err := newAllocationLog(logging.New(&out, logging.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	base := mono.Time(100 * time.Second)
	a := testAllocation("a", 0)
	for i := 0; i < 5*allocationLogRate; i++ {
		l.offer(relay.Event{Kind: relay.EventCreated, Allocation: a, At: base})
	}
	l.offer(relay.Event{Kind: relay.EventExpired, Allocation: a, At: base})
	l.offer(relay.Event{Kind: relay.EventCreated, Allocation: a, At: base.Add(time.Second)})
	l.close()
	lines := out.lines(t)
	if len(lines) != allocationLogRate+2 {
		t.Fatalf("%d lines, want %d in the burst's second, one ending, one in the next second", len(lines), allocationLogRate+2)
	}
	last := lines[len(lines)-1]
	if last["suppressed"] != float64(4*allocationLogRate) {
		t.Fatalf("next line reports suppressed=%v, want %d", last["suppressed"], 4*allocationLogRate)
	}
}

// blockingWriter blocks every Write until release is closed, like a stderr
// pipe nobody reads.
type blockingWriter struct {
	release chan struct{}
	out     lockedBuffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	return w.out.Write(p)
}

// TestAllocationLogNeverBlocks: with the log output stuck, offer still
// returns at once; events beyond the queue are counted and reported once
// the output moves again.
func TestAllocationLogNeverBlocks(t *testing.T) {
	w := &blockingWriter{release: make(chan struct{})}
	l, err := newAllocationLog(logging.New(w, logging.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	a := testAllocation("a", 0)
	const events = 2 * allocationLogQueue
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < events; i++ {
			// One event per second of mono time: no rate limiting.
			l.offer(relay.Event{Kind: relay.EventCreated, Allocation: a, At: mono.Time(time.Duration(i) * time.Second)})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("offer blocked behind a stuck log writer")
	}
	close(w.release)
	for deadline := time.Now().Add(10 * time.Second); len(l.queue) > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	// One more event once the queue has room is written, and any loss not
	// yet reported goes with it.
	l.offer(relay.Event{Kind: relay.EventCreated, Allocation: a, At: mono.Time(time.Duration(events) * time.Second)})
	l.close()
	lines := w.out.lines(t)
	var lost float64
	for _, line := range lines {
		if n, ok := line["lost"].(float64); ok {
			lost += n
		}
	}
	if int(lost)+len(lines) != events+1 {
		t.Fatalf("%d lines + %v lost = %d, want every one of %d events accounted for", len(lines), lost, len(lines)+int(lost), events+1)
	}
	if lost == 0 {
		t.Fatal("no event was lost with the writer stuck; the queue is not bounded")
	}
}

// TestOfferDoesNotAllocate: offer runs on the relay's packet loops.
func TestOfferDoesNotAllocate(t *testing.T) {
	l, err := makeAllocationLog(logging.New(&lockedBuffer{}, logging.LevelInfo), 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	a := testAllocation("alice", 0)
	var at mono.Time
	allocs := testing.AllocsPerRun(1000, func() {
		at = at.Add(time.Second)
		l.offer(relay.Event{Kind: relay.EventCreated, Allocation: a, At: at})
		l.offer(relay.Event{Kind: relay.EventExpired, Allocation: a, At: at})
	})
	if allocs != 0 {
		t.Fatalf("offer allocates %.1f times per call pair, want 0", allocs)
	}
}

func BenchmarkOffer(b *testing.B) {
	l, err := makeAllocationLog(logging.New(&lockedBuffer{}, logging.LevelInfo), 1)
	if err != nil {
		b.Fatal(err)
	}
	a := testAllocation("alice", 0)
	b.ReportAllocs()
	for b.Loop() {
		l.offer(relay.Event{Kind: relay.EventCreated, Allocation: a, At: 0})
	}
}
