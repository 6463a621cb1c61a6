package bench

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestMeanRatio(t *testing.T) {
	if q, ok := meanRatio([]float64{1, 3}, []float64{10, 10}); !ok || q != 0.2 {
		t.Fatalf("got %v, %v; want 0.2", q, ok)
	}
	if _, ok := meanRatio([]float64{1, 3}, []float64{5, -5}); ok {
		t.Fatal("a zero denominator gave a ratio")
	}
}

func TestPercentile(t *testing.T) {
	s := []float64{0, 10, 20, 30, 40}
	for _, c := range []struct{ p, want float64 }{{0, 0}, {1, 40}, {0.5, 20}, {0.125, 5}, {0.975, 39}} {
		if got := percentile(s, c.p); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
}

// TestMeanRatioInterval: pairs with one exact ratio give an interval of
// that ratio alone; noisy pairs give an interval around the ratio of the
// means that narrows as repetitions are added, and that covers the true
// ratio about 95 % of the time (checked over 200 simulated profiles
// against the model the samples are drawn from).
func TestMeanRatioInterval(t *testing.T) {
	lo, hi, ok := meanRatioInterval([]float64{3, 4.5, 6}, []float64{20, 30, 40})
	if !ok || math.Abs(lo-0.15) > 1e-12 || math.Abs(hi-0.15) > 1e-12 {
		t.Fatalf("exact pairs: [%v, %v], %v; want [0.15, 0.15]", lo, hi, ok)
	}
	if _, _, ok := meanRatioInterval([]float64{1}, []float64{2}); ok {
		t.Fatal("one pair gave an interval")
	}
	if _, _, ok := meanRatioInterval([]float64{1, 1, 1}, []float64{-1, 1, 0}); ok {
		t.Fatal("denominators around zero gave an interval")
	}

	// The model: a relay costing 3 µs against one costing 20 µs, each
	// repetition's costs scattered by a normal noise of 2 µs, as the
	// profile's windows are.
	const trueRatio = 3.0 / 20
	rng := rand.New(rand.NewPCG(1, 2))
	draw := func(n int) (a, b []float64) {
		for range n {
			a = append(a, 3000+2000*rng.NormFloat64())
			b = append(b, 20000+2000*rng.NormFloat64())
		}
		return a, b
	}
	width := func(n int) float64 {
		a, b := draw(n)
		lo, hi, ok := meanRatioInterval(a, b)
		q, _ := meanRatio(a, b)
		if !ok || lo > q || hi < q {
			t.Fatalf("n=%d: interval [%v, %v], %v, does not hold the ratio of the means %v", n, lo, hi, ok, q)
		}
		return hi - lo
	}
	if w5, w40 := width(5), width(40); w40 >= w5 {
		t.Errorf("interval width %v with 40 repetitions, %v with 5: more repetitions must narrow it", w40, w5)
	}
	covered := 0
	const profiles = 200
	for range profiles {
		a, b := draw(10)
		if lo, hi, ok := meanRatioInterval(a, b); ok && lo <= trueRatio && trueRatio <= hi {
			covered++
		}
	}
	// A percentile bootstrap of 10 pairs is a little narrow; 85 % is the
	// least a working interval gives here, a broken one far less.
	if covered < profiles*85/100 {
		t.Errorf("the interval held the true ratio in %d of %d profiles, want about 95 %%", covered, profiles)
	}
}
