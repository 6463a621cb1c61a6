package mono

import "time"

// Clock is where a shell gets time. A shell holds one Clock, reads it once
// per event and passes the value down; tests hand it a fake (package
// monotest) and move time by hand instead of sleeping.
type Clock interface {
	// Now reads the monotonic clock: deadlines and lifetimes.
	Now() Time
	// Wall reads the wall clock: REST credential expiries and nonces,
	// which are judged against wall-clock instants from outside.
	Wall() time.Time
	// AfterFunc calls f once, in its own goroutine, when d has passed.
	// A fake clock calls f from the goroutine that advances it.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop cancels the call; it reports false when f already ran or is
	// running (the caller then synchronises with f itself).
	Stop() bool
}

// System is the process's real clock.
var System Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() Time       { return Now() }
func (systemClock) Wall() time.Time { return time.Now() }
func (systemClock) AfterFunc(d time.Duration, f func()) Timer {
	return time.AfterFunc(d, f)
}
