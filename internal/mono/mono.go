// Package mono is the project's notion of time as a value.
//
// Cores that decide (allocation, auth, gateway) never read a clock: they take
// a Time argument, so tests advance time by hand. Shells read the clock once
// per batch of packets with Now and pass the value down.
//
// A Time is a count of nanoseconds on the process's monotonic clock. It is an
// int64 so that expiry checks are integer comparisons and so that structures
// holding deadlines stay pointer-free. It is meaningless across processes and
// must never be put on the wire or in logs as a wall-clock instant.
package mono

import "time"

// Time is a monotonic instant in nanoseconds since an arbitrary, per-process
// origin. The zero Time is a valid instant (the origin), not "unset".
type Time int64

// origin anchors Now; time.Since uses the monotonic reading of origin, so Now
// never jumps when the wall clock is stepped.
var origin = time.Now()

// Now reads the monotonic clock. Only shells (code that does I/O) call it.
func Now() Time { return Time(time.Since(origin)) }

// Add returns t+d.
func (t Time) Add(d time.Duration) Time { return t + Time(d) }

// Sub returns the duration t-u.
func (t Time) Sub(u Time) time.Duration { return time.Duration(t - u) }

// Before reports whether t is strictly before u.
func (t Time) Before(u Time) bool { return t < u }

// After reports whether t is strictly after u.
func (t Time) After(u Time) bool { return t > u }
