package logging

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/internal/mono"
)

const (
	keyUnboundChannel SampleKey = iota
	keyNoPermission
)

func mustSampler(t testing.TB, limit int, interval time.Duration) *Sampler {
	t.Helper()
	s, err := NewSampler(limit, interval)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSamplerSequence(t *testing.T) {
	sec := func(f float64) mono.Time { return mono.Time(f * float64(time.Second)) }
	s := mustSampler(t, 2, time.Second)
	steps := []struct {
		key        SampleKey
		now        mono.Time
		ok         bool
		suppressed uint64
	}{
		{keyUnboundChannel, sec(0.1), true, 0},
		{keyUnboundChannel, sec(0.2), true, 0},
		{keyUnboundChannel, sec(0.3), false, 0}, // limit of 2 reached
		{keyUnboundChannel, sec(0.9), false, 0},
		{keyNoPermission, sec(0.9), true, 0}, // keys are independent
		{keyUnboundChannel, sec(0.999999999), false, 0},
		{keyUnboundChannel, sec(1.0), true, 3}, // new window reports the 3 suppressed
		{keyUnboundChannel, sec(1.5), true, 0},
		{keyUnboundChannel, sec(1.6), false, 0},
		{keyUnboundChannel, sec(0.5), false, 0}, // a stale time counts in the current window
		{keyUnboundChannel, sec(5.0), true, 2},  // idle windows in between change nothing
		{keyNoPermission, sec(5.0), true, 0},
	}
	for i, st := range steps {
		ok, n := s.Allow(st.key, st.now)
		if ok != st.ok || n != st.suppressed {
			t.Errorf("step %d: Allow(%d, %v) = %v, %d; want %v, %d", i, st.key, st.now, ok, n, st.ok, st.suppressed)
		}
	}
}

func TestSamplerEveryKeyIsUsable(t *testing.T) {
	s := mustSampler(t, 1, time.Second)
	for k := 0; k < 256; k++ {
		if ok, _ := s.Allow(SampleKey(k), 0); !ok {
			t.Errorf("key %d refused its first line", k)
		}
		if ok, _ := s.Allow(SampleKey(k), 0); ok {
			t.Errorf("key %d passed a second line", k)
		}
	}
	if ok, _ := s.Allow(0, -5); ok {
		t.Error("a time before the origin opened a new window")
	}
}

// TestSamplerConcurrent checks the limit and the conservation of counts under
// contention: every call is either passed or eventually reported.
func TestSamplerConcurrent(t *testing.T) {
	const goroutines, calls, limit = 8, 5000, 50
	s := mustSampler(t, limit, time.Second)
	var passed, reported atomic.Uint64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				if ok, n := s.Allow(keyNoPermission, mono.Time(i%2)); ok {
					passed.Add(1)
					reported.Add(n)
				}
			}
		}()
	}
	wg.Wait()
	if passed.Load() != limit {
		t.Errorf("%d lines passed in one window, want %d", passed.Load(), limit)
	}
	ok, n := s.Allow(keyNoPermission, mono.Time(time.Second))
	if !ok {
		t.Fatal("next window refused its first line")
	}
	if total := passed.Load() + reported.Load() + n; total != goroutines*calls {
		t.Errorf("passed+reported = %d, want %d", total, goroutines*calls)
	}
}

func TestNewSamplerRejects(t *testing.T) {
	for _, tc := range []struct {
		limit    int
		interval time.Duration
		want     string
	}{
		{0, time.Second, "limit 0"},
		{-1, time.Second, "limit -1"},
		{MaxSampleLimit + 1, time.Second, "limit"},
		{1, time.Millisecond - 1, "interval"},
		{1, 0, "interval"},
	} {
		if _, err := NewSampler(tc.limit, tc.interval); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewSampler(%d, %v) = %v, want an error about %q", tc.limit, tc.interval, err, tc.want)
		}
	}
	if _, err := NewSampler(MaxSampleLimit, MinSampleInterval); err != nil {
		t.Errorf("NewSampler at the limits: %v", err)
	}
}

func TestSamplerDoesNotAllocate(t *testing.T) {
	s := mustSampler(t, 3, time.Second)
	var now mono.Time
	if n := testing.AllocsPerRun(1000, func() {
		now += mono.Time(time.Millisecond)
		s.Allow(keyUnboundChannel, now)
	}); n != 0 {
		t.Errorf("Allow allocates %.1f times per call", n)
	}
}

func BenchmarkSamplerAllow(b *testing.B) {
	s := mustSampler(b, 10, time.Second)
	b.ReportAllocs()
	var now mono.Time
	for b.Loop() {
		now += 1000
		s.Allow(keyUnboundChannel, now)
	}
}
