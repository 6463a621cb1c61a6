// Package monotest is a fake mono.Clock for tests: time stands still until
// the test moves it, and timers due by then run in the test's goroutine
// before Advance returns, so a test observes their effects without sleeping.
package monotest

import (
	"slices"
	"sync"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// Clock is a fake clock. The zero value is not usable; call New.
type Clock struct {
	mu     sync.Mutex
	now    mono.Time
	wall   time.Time
	timers []*timer
	seq    uint64
}

// New returns a clock at monotonic instant 1s (so that zero deadlines are in
// the past) and the given wall-clock instant.
func New(wall time.Time) *Clock {
	return &Clock{now: mono.Time(time.Second), wall: wall}
}

type timer struct {
	c    *Clock
	at   mono.Time
	seq  uint64 // orders timers due at the same instant by creation
	f    func()
	done bool
}

// Now returns the fake monotonic time.
func (c *Clock) Now() mono.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Wall returns the fake wall-clock time; it moves with Advance.
func (c *Clock) Wall() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wall
}

// SetWall moves the wall clock alone (a stepped system clock).
func (c *Clock) SetWall(t time.Time) {
	c.mu.Lock()
	c.wall = t
	c.mu.Unlock()
}

// AfterFunc registers f to run when the clock has advanced by d.
func (c *Clock) AfterFunc(d time.Duration, f func()) mono.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &timer{c: c, at: c.now.Add(max(d, 0)), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Stop cancels t if it has not run.
func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	t.c.timers = slices.DeleteFunc(t.c.timers, func(x *timer) bool { return x == t })
	return true
}

// Advance moves both clocks forward by d. Timers fall due in deadline order;
// the clock reads each one's deadline while its function runs, and a timer
// a function registers runs in the same Advance when it falls due inside d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		t := c.nextDue(end)
		if t == nil {
			break
		}
		c.wall = c.wall.Add(t.at.Sub(c.now))
		c.now = t.at
		t.done = true
		c.timers = slices.DeleteFunc(c.timers, func(x *timer) bool { return x == t })
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
	c.wall = c.wall.Add(end.Sub(c.now))
	c.now = end
	c.mu.Unlock()
}

// nextDue returns the earliest timer due at or before end. Called with mu held.
func (c *Clock) nextDue(end mono.Time) *timer {
	var best *timer
	for _, t := range c.timers {
		if t.at > end {
			continue
		}
		if best == nil || t.at < best.at || t.at == best.at && t.seq < best.seq {
			best = t
		}
	}
	return best
}

// Pending reports how many timers are armed (tests check that a component
// keeps one timer, not one per object).
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}
