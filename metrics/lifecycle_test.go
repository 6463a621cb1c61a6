package metrics

import (
	"testing"
	"time"

	"github.com/turnstile-relay/turnstile/allocation"
	"github.com/turnstile-relay/turnstile/internal/mono"
	"github.com/turnstile-relay/turnstile/relay"
)

// event builds an event for an allocation created at created, happening at at.
func event(kind relay.EventKind, created, at time.Duration) relay.Event {
	return relay.Event{Kind: kind, Allocation: &allocation.Allocation{Created: mono.Time(created)}, At: mono.Time(at)}
}

func TestLifecycleCounts(t *testing.T) {
	type want struct {
		created, deleted, expired, closed float64
		lifetimes                         uint64
		sum                               float64 // seconds
	}
	for _, tc := range []struct {
		name   string
		events []relay.Event
		want   want
	}{
		{"nothing", nil, want{}},
		{"created", []relay.Event{event(relay.EventCreated, 0, 0)}, want{created: 1}},
		{"refresh changes nothing", []relay.Event{event(relay.EventRefreshed, 0, time.Minute)}, want{}},
		{
			"each end reason with its lifetime",
			[]relay.Event{
				event(relay.EventCreated, time.Second, time.Second),
				event(relay.EventDeleted, time.Second, 31*time.Second),
				event(relay.EventExpired, 0, 600*time.Second),
				event(relay.EventClosed, 10*time.Second, 12*time.Second),
			},
			want{created: 1, deleted: 1, expired: 1, closed: 1, lifetimes: 3, sum: 30 + 600 + 2},
		},
		{
			"end before creation counts as zero lifetime",
			[]relay.Event{event(relay.EventExpired, 5*time.Second, time.Second)},
			want{expired: 1, lifetimes: 1, sum: 0},
		},
		{
			"end without allocation counts the end only",
			[]relay.Event{{Kind: relay.EventDeleted}},
			want{deleted: 1},
		},
		{"unknown kind ignored", []relay.Event{{Kind: relay.EventKind(200)}}, want{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lc := NewLifecycle()
			for _, ev := range tc.events {
				lc.Observe(ev)
			}
			m, err := New(&fakeSource{}, lc, nil)
			if err != nil {
				t.Fatal(err)
			}
			fams := gather(t, m.Gatherer())
			got := want{}
			got.created, _ = valueOf(fams, "turnstile_allocations_created_total", "")
			got.deleted, _ = valueOf(fams, "turnstile_allocations_ended_total", "reason=deleted")
			got.expired, _ = valueOf(fams, "turnstile_allocations_ended_total", "reason=expired")
			got.closed, _ = valueOf(fams, "turnstile_allocations_ended_total", "reason=closed")
			h := fams["turnstile_allocation_lifetime_seconds"].GetMetric()[0].GetHistogram()
			got.lifetimes, got.sum = h.GetSampleCount(), h.GetSampleSum()
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestLifetimeBuckets(t *testing.T) {
	lc := NewLifecycle()
	lc.Observe(event(relay.EventExpired, 0, 600*time.Second))
	lc.Observe(event(relay.EventDeleted, 0, 2*time.Second))
	m, err := New(&fakeSource{}, lc, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := gather(t, m.Gatherer())["turnstile_allocation_lifetime_seconds"].GetMetric()[0].GetHistogram()
	if len(h.GetBucket()) != len(LifetimeBuckets) {
		t.Fatalf("%d buckets, want %d", len(h.GetBucket()), len(LifetimeBuckets))
	}
	cumulative := map[float64]uint64{1: 0, 5: 1, 300: 1, 600: 2, 86400: 2}
	for _, b := range h.GetBucket() {
		if want, ok := cumulative[b.GetUpperBound()]; ok && b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%g: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
}

// TestObserveDoesNotAllocate: Observe runs on the relay's packet loops and
// request path (relay.Config.Events), which must not allocate.
func TestObserveDoesNotAllocate(t *testing.T) {
	lc := NewLifecycle()
	evs := []relay.Event{
		event(relay.EventCreated, 0, 0),
		event(relay.EventRefreshed, 0, time.Second),
		event(relay.EventDeleted, 0, time.Minute),
		event(relay.EventExpired, 0, time.Hour),
		event(relay.EventClosed, 0, time.Hour),
	}
	allocs := testing.AllocsPerRun(1000, func() {
		for _, ev := range evs {
			lc.Observe(ev)
		}
	})
	if allocs != 0 {
		t.Fatalf("Observe allocates %.1f times per 5 events, want 0", allocs)
	}
}

func BenchmarkObserve(b *testing.B) {
	lc := NewLifecycle()
	created := event(relay.EventCreated, 0, 0)
	ended := event(relay.EventExpired, 0, 10*time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		lc.Observe(created)
		lc.Observe(ended)
	}
}

func BenchmarkScrape(b *testing.B) {
	src := &fakeSource{}
	src.set(sampleStats(), false)
	m, err := New(src, NewLifecycle(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Gatherer().Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
