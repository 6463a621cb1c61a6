// Package latency records round-trip times in a fixed-size, lock-free
// histogram with microsecond resolution and reports percentiles.
//
// Values below 2048 µs are kept exactly (one bucket per microsecond); larger
// values fall into log-linear buckets with 1024 sub-buckets per power of two,
// so a reported value is at most 1/1024 (under 0.1 %) below the true one.
// Values of 2^26 µs (about 67 s) and more are counted in the last bucket.
package latency

import (
	"math"
	"math/bits"
	"sync/atomic"
)

const (
	subBits = 10
	// exactLimit is the first value (µs) that no longer has its own bucket.
	exactLimit = 2 << subBits
	// MaxMicros is the first value that is clamped into the last bucket.
	MaxMicros = 1 << 26
	// NumBuckets is the number of buckets covering [0, MaxMicros).
	NumBuckets = (26-subBits-1)<<subBits + exactLimit
)

// BucketOf returns the bucket index of a value in microseconds.
func BucketOf(us uint64) int {
	if us >= MaxMicros {
		us = MaxMicros - 1
	}
	l := bits.Len64(us)
	if l <= subBits+1 {
		return int(us)
	}
	s := l - (subBits + 1)
	return s<<subBits + int(us>>s)
}

// BucketLow returns the smallest value (µs) that falls into bucket i.
func BucketLow(i int) uint64 {
	if i < exactLimit {
		return uint64(i)
	}
	s := i>>subBits - 1
	m := i - s<<subBits
	return uint64(m) << s
}

// BucketHigh returns the first value (µs) above bucket i.
func BucketHigh(i int) uint64 {
	if i < exactLimit {
		return uint64(i) + 1
	}
	s := i>>subBits - 1
	m := i - s<<subBits
	return uint64(m+1) << s
}

// shard is one independent set of counters. Writers that share a shard
// contend on its cache lines, so callers spread writers over shards.
type shard struct {
	counts   [NumBuckets]atomic.Uint64
	sumNanos atomic.Uint64
}

// Histogram counts recorded durations. Record is safe for concurrent use and
// lock-free; Snapshot may run concurrently with Record and sees each record
// either entirely or not at all per counter (the sum and the bucket are two
// separate atomics).
type Histogram struct {
	shards []shard
}

// New returns a histogram with the given number of shards (at least 1).
// Memory is about 139 KiB per shard.
func New(shards int) *Histogram {
	if shards < 1 {
		shards = 1
	}
	return &Histogram{shards: make([]shard, shards)}
}

// Shards returns the number of shards.
func (h *Histogram) Shards() int { return len(h.shards) }

// Record adds one duration in nanoseconds, truncated to microseconds, to
// shard s modulo the shard count. Negative durations count as zero. It does
// not allocate.
func (h *Histogram) Record(s int, nanos int64) {
	if nanos < 0 {
		nanos = 0
	}
	sh := &h.shards[uint(s)%uint(len(h.shards))]
	sh.counts[BucketOf(uint64(nanos)/1000)].Add(1)
	sh.sumNanos.Add(uint64(nanos))
}

// Snapshot returns the sum of all shards' counters at about this instant.
func (h *Histogram) Snapshot() Counts {
	c := Counts{Buckets: make([]uint64, NumBuckets)}
	for i := range h.shards {
		sh := &h.shards[i]
		for b := range sh.counts {
			c.Buckets[b] += sh.counts[b].Load()
		}
		c.SumNanos += sh.sumNanos.Load()
	}
	return c
}

// Counts is a plain (not concurrently updated) copy of a histogram's
// counters, with the statistics computed from it.
type Counts struct {
	Buckets  []uint64 // len NumBuckets, or nil for an empty Counts
	SumNanos uint64
}

// Total returns the number of recorded values.
func (c Counts) Total() uint64 {
	var n uint64
	for _, v := range c.Buckets {
		n += v
	}
	return n
}

// Sub returns c minus an earlier snapshot of the same histogram: the values
// recorded between the two.
func (c Counts) Sub(earlier Counts) Counts {
	out := Counts{Buckets: make([]uint64, NumBuckets), SumNanos: c.SumNanos - earlier.SumNanos}
	copy(out.Buckets, c.Buckets)
	for i := range earlier.Buckets {
		if i < len(out.Buckets) {
			out.Buckets[i] -= earlier.Buckets[i]
		}
	}
	return out
}

// Percentile returns the nearest-rank q-quantile in microseconds (0 ≤ q ≤ 1):
// the lower bound of the bucket holding the ceil(q·N)-th smallest value, so it
// equals that value exactly below 2048 µs and is at most 0.1 % below it
// above. It returns 0 for an empty Counts.
func (c Counts) Percentile(q float64) uint64 {
	n := c.Total()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(1, min(rank, n))
	var cum uint64
	for i, v := range c.Buckets {
		cum += v
		if cum >= rank {
			return BucketLow(i)
		}
	}
	return BucketLow(NumBuckets - 1)
}

// Min returns the lower bound of the lowest non-empty bucket (µs), or 0.
func (c Counts) Min() uint64 {
	for i, v := range c.Buckets {
		if v != 0 {
			return BucketLow(i)
		}
	}
	return 0
}

// Max returns the lower bound of the highest non-empty bucket (µs), or 0.
func (c Counts) Max() uint64 {
	for i := len(c.Buckets) - 1; i >= 0; i-- {
		if c.Buckets[i] != 0 {
			return BucketLow(i)
		}
	}
	return 0
}

// MeanMicros returns the exact mean of the recorded values in microseconds
// (from the nanosecond sum), or 0 for an empty Counts.
func (c Counts) MeanMicros() float64 {
	n := c.Total()
	if n == 0 {
		return 0
	}
	return float64(c.SumNanos) / float64(n) / 1000
}

// Bucket is one non-empty histogram bucket: Count values in [Low, High) µs.
type Bucket struct {
	Low   uint64 `json:"low_us"`
	High  uint64 `json:"high_us"`
	Count uint64 `json:"count"`
}

// NonEmpty lists the non-empty buckets in increasing order.
func (c Counts) NonEmpty() []Bucket {
	var out []Bucket
	for i, v := range c.Buckets {
		if v != 0 {
			out = append(out, Bucket{Low: BucketLow(i), High: BucketHigh(i), Count: v})
		}
	}
	return out
}
