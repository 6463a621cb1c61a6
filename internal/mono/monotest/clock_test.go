package monotest

import (
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestAdvanceRunsDueTimersInOrderAtTheirDeadline(t *testing.T) {
	c := New(epoch)
	start := c.Now()
	var ran []time.Duration
	record := func() { ran = append(ran, c.Now().Sub(start)) }
	c.AfterFunc(3*time.Second, record)
	c.AfterFunc(time.Second, record)
	c.AfterFunc(5*time.Second, record)
	c.Advance(4 * time.Second)
	if want := []time.Duration{time.Second, 3 * time.Second}; !equal(ran, want) {
		t.Fatalf("ran at %v, want %v", ran, want)
	}
	if got := c.Now().Sub(start); got != 4*time.Second {
		t.Fatalf("clock at %v after Advance(4s)", got)
	}
	if got := c.Wall(); !got.Equal(epoch.Add(4 * time.Second)) {
		t.Fatalf("wall clock %v, want %v", got, epoch.Add(4*time.Second))
	}
	if c.Pending() != 1 {
		t.Fatalf("%d timers pending, want 1", c.Pending())
	}
}

func TestTimerArmedByATimerRunsInTheSameAdvance(t *testing.T) {
	c := New(epoch)
	n := 0
	var tick func()
	tick = func() {
		n++
		c.AfterFunc(time.Second, tick)
	}
	c.AfterFunc(time.Second, tick)
	c.Advance(10 * time.Second)
	if n != 10 {
		t.Fatalf("a re-arming one-second timer ran %d times in 10s, want 10", n)
	}
}

func TestStoppedTimerNeverRuns(t *testing.T) {
	c := New(epoch)
	ran := false
	tm := c.AfterFunc(time.Second, func() { ran = true })
	if !tm.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	c.Advance(time.Hour)
	if ran {
		t.Fatal("a stopped timer ran")
	}
	if tm.Stop() {
		t.Fatal("second Stop reported true")
	}
}

func TestFakeIsAMonoClock(t *testing.T) {
	var _ mono.Clock = New(epoch)
}

func equal(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
