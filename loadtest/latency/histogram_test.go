package latency

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func TestBucketBoundaries(t *testing.T) {
	tests := []struct {
		us   uint64
		want int
	}{
		{0, 0}, {1, 1}, {2047, 2047}, {2048, 2048}, {2049, 2048}, {2050, 2049},
		{4095, 3071}, {4096, 3072}, {MaxMicros - 1, NumBuckets - 1}, {MaxMicros, NumBuckets - 1}, {math.MaxUint64, NumBuckets - 1},
	}
	for _, tc := range tests {
		if got := BucketOf(tc.us); got != tc.want {
			t.Errorf("BucketOf(%d) = %d, want %d", tc.us, got, tc.want)
		}
	}
	// Every bucket's range maps back to itself and ranges tile [0, MaxMicros).
	next := uint64(0)
	for i := 0; i < NumBuckets; i++ {
		lo, hi := BucketLow(i), BucketHigh(i)
		if lo != next || hi <= lo {
			t.Fatalf("bucket %d = [%d, %d), expected to start at %d", i, lo, hi, next)
		}
		if BucketOf(lo) != i || BucketOf(hi-1) != i {
			t.Fatalf("bucket %d: BucketOf(%d)=%d BucketOf(%d)=%d", i, lo, BucketOf(lo), hi-1, BucketOf(hi-1))
		}
		// Relative width stays under 1/1024 above the exact range.
		if lo >= exactLimit && float64(hi-lo)/float64(lo) > 1.0/1024 {
			t.Fatalf("bucket %d too wide: [%d, %d)", i, lo, hi)
		}
		next = hi
	}
	if next != MaxMicros {
		t.Fatalf("buckets end at %d, want %d", next, MaxMicros)
	}
}

// naivePercentile is the model: sort every value, take the nearest rank.
func naivePercentile(sorted []uint64, q float64) uint64 {
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

func TestPercentileAgainstNaiveSort(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	distributions := map[string]func() uint64{
		"uniform small":  func() uint64 { return r.Uint64N(2000) },
		"exponential":    func() uint64 { return uint64(r.ExpFloat64() * 300) },
		"heavy tail":     func() uint64 { return uint64(math.Exp(r.Float64() * 17)) },
		"constant":       func() uint64 { return 42 },
		"beyond range":   func() uint64 { return MaxMicros/2 + r.Uint64N(MaxMicros/2) },
		"two clusters":   func() uint64 { return []uint64{80, 90_000}[r.IntN(2)] + r.Uint64N(10) },
		"single samples": func() uint64 { return r.Uint64N(1 << 24) },
	}
	quantiles := []float64{0, 0.001, 0.5, 0.9, 0.99, 0.999, 1}
	for name, draw := range distributions {
		for _, n := range []int{1, 2, 7, 1000, 20000} {
			h := New(4)
			values := make([]uint64, n)
			for i := range values {
				values[i] = draw()
				h.Record(i, int64(values[i])*1000+int64(r.IntN(1000)))
			}
			slices.Sort(values)
			c := h.Snapshot()
			if c.Total() != uint64(n) {
				t.Fatalf("%s n=%d: total %d", name, n, c.Total())
			}
			for _, q := range quantiles {
				want := naivePercentile(values, q)
				got := c.Percentile(q)
				if got != BucketLow(BucketOf(want)) {
					t.Fatalf("%s n=%d q=%v: got %d, naive %d", name, n, q, got, want)
				}
				if want < exactLimit && got != want {
					t.Fatalf("%s n=%d q=%v: exact range got %d want %d", name, n, q, got, want)
				}
			}
			if c.Min() != BucketLow(BucketOf(values[0])) || c.Max() != BucketLow(BucketOf(values[n-1])) {
				t.Fatalf("%s n=%d: min %d max %d vs %d %d", name, n, c.Min(), c.Max(), values[0], values[n-1])
			}
		}
	}
}

func TestEmptyAndSub(t *testing.T) {
	h := New(2)
	empty := h.Snapshot()
	if empty.Percentile(0.5) != 0 || empty.MeanMicros() != 0 || empty.Min() != 0 || empty.Max() != 0 {
		t.Fatal("empty histogram reports values")
	}
	h.Record(0, 1000)
	first := h.Snapshot()
	h.Record(1, 5000)
	h.Record(1, 7000)
	h.Record(0, -5)
	diff := h.Snapshot().Sub(first)
	if diff.Total() != 3 || diff.Percentile(1) != 7 || diff.Min() != 0 {
		t.Fatalf("diff total %d max %d min %d", diff.Total(), diff.Percentile(1), diff.Min())
	}
	if got := diff.MeanMicros(); got != 4 {
		t.Fatalf("mean %v, want 4 (negative counted as 0)", got)
	}
	if b := diff.NonEmpty(); len(b) != 3 || b[0].Low != 0 || b[2] != (Bucket{Low: 7, High: 8, Count: 1}) {
		t.Fatalf("NonEmpty %+v", b)
	}
}

func TestConcurrentRecord(t *testing.T) {
	h := New(3)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Go(func() {
			for i := 0; i < 10000; i++ {
				h.Record(g, int64(i))
			}
		})
	}
	wg.Wait()
	if got := h.Snapshot().Total(); got != 80000 {
		t.Fatalf("total %d, want 80000", got)
	}
}

func TestRecordAllocatesNothing(t *testing.T) {
	h := New(1)
	if a := testing.AllocsPerRun(1000, func() { h.Record(0, 123456) }); a != 0 {
		t.Fatalf("%v allocations per Record", a)
	}
}

func BenchmarkRecord(b *testing.B) {
	h := New(1)
	b.ReportAllocs()
	var i int64
	for b.Loop() {
		i++
		h.Record(0, i&0xFFFFF)
	}
}
