package logging

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

// SampleKey names one kind of rate-limited event, e.g. "ChannelData for an
// unbound channel". Callers define their keys as constants; a key is never
// derived from packet contents, so the state a Sampler keeps is fixed.
type SampleKey uint8

// Limits of NewSampler's arguments, set by the packing of sampleSlot.state.
const (
	// MaxSampleLimit is the largest number of lines per interval.
	MaxSampleLimit = 1<<sampleCountBits - 1
	// MinSampleInterval is the shortest interval; with it, window numbers
	// fit their 40 bits for 34 years of process uptime.
	MinSampleInterval = time.Millisecond
)

const (
	sampleCountBits = 24
	sampleCountMask = 1<<sampleCountBits - 1
	sampleWindowMax = 1<<(64-sampleCountBits) - 1
)

// Sampler rate-limits log lines for events that can happen once per packet:
// per key, at most limit lines pass in each interval-long window, and the
// number suppressed since the last line that passed is handed to the next
// one that passes, so no event goes uncounted. It starts no goroutine and
// reads no clock: the caller passes the current time. Windows are aligned to
// multiples of the interval on the mono clock.
//
// A Sampler is safe for concurrent use; Allow takes no lock and does not
// allocate. Windows only move forward, so callers whose clock readings
// interleave across a window boundary cannot exceed the limit.
type Sampler struct {
	limit    uint64
	interval int64 // nanoseconds
	slots    [256]sampleSlot
}

// sampleSlot is the state of one key.
type sampleSlot struct {
	// state packs the window number (now / interval, high 40 bits) with the
	// number of lines passed in that window (low 24 bits), so one
	// compare-and-swap moves both.
	state atomic.Uint64
	// suppressed counts lines refused since one last passed.
	suppressed atomic.Uint64
}

// NewSampler returns a Sampler letting at most limit lines per interval
// through for each key. limit must be between 1 and MaxSampleLimit and
// interval at least MinSampleInterval. Times before the mono origin count as
// the origin.
func NewSampler(limit int, interval time.Duration) (*Sampler, error) {
	if limit < 1 || limit > MaxSampleLimit {
		return nil, fmt.Errorf("logging: sampler limit %d is outside 1..%d", limit, MaxSampleLimit)
	}
	if interval < MinSampleInterval {
		return nil, fmt.Errorf("logging: sampler interval %v is below %v", interval, MinSampleInterval)
	}
	return &Sampler{limit: uint64(limit), interval: int64(interval)}, nil
}

// Allow reports whether a line for key may be written at now. When it may,
// suppressed is the number of lines for key refused since the previous one
// passed; add it to the line (see SuppressedAttr). Use it as
//
//	if ok, n := s.Allow(keyUnboundChannel, now); ok {
//		log.LogAttrs(ctx, slog.LevelDebug, "ChannelData for unbound channel",
//			logging.SuppressedAttr(n), ...)
//	}
func (s *Sampler) Allow(key SampleKey, now mono.Time) (ok bool, suppressed uint64) {
	slot := &s.slots[key]
	var window uint64
	if now > 0 {
		window = uint64(int64(now)/s.interval) & sampleWindowMax
	}
	for {
		old := slot.state.Load()
		next := window<<sampleCountBits | 1
		// A now from an older window (a caller's clock read before
		// another caller's) counts against the current window rather
		// than reopening the old one.
		if window <= old>>sampleCountBits {
			if old&sampleCountMask >= s.limit {
				slot.suppressed.Add(1)
				return false, 0
			}
			next = old + 1
		}
		if slot.state.CompareAndSwap(old, next) {
			return true, slot.suppressed.Swap(0)
		}
	}
}

// SuppressedAttr is the field reporting lines a Sampler suppressed before
// this one: "suppressed": n.
func SuppressedAttr(n uint64) slog.Attr { return slog.Uint64("suppressed", n) }
