package bench

import (
	"math/rand/v2"
	"slices"
)

// bootstrapResamples is how many resamples meanRatioInterval draws: the
// interval's ends move by well under 0.005 between seeds at this count.
const bootstrapResamples = 10000

// meanRatio is Σa/Σb over the paired samples: the ratio of the mean
// costs. ok is false when Σb is not positive.
func meanRatio(a, b []float64) (float64, bool) {
	var sa, sb float64
	for i := range a {
		sa += a[i]
		sb += b[i]
	}
	if sb <= 0 {
		return 0, false
	}
	return sa / sb, true
}

// meanRatioInterval is a 95 % percentile bootstrap interval of meanRatio:
// the repetitions are drawn with replacement, pairs kept together, and the
// 2.5th and 97.5th percentiles of the resampled ratios are the interval.
// Repetitions, not datagrams, are the unit: a window's CPU scatters by
// far more than counting noise, so only the repetitions show the spread.
// The seed is fixed, so a report reads the same each time it is built.
// ok is false with fewer than two pairs or when a resample has no
// positive denominator in 5 % of the draws or more.
func meanRatioInterval(a, b []float64) (lo, hi float64, ok bool) {
	n := len(a)
	if n < 2 || len(b) != n {
		return 0, 0, false
	}
	rng := rand.New(rand.NewPCG(14, 0x7e57ab1e))
	ratios := make([]float64, 0, bootstrapResamples)
	ra, rb := make([]float64, n), make([]float64, n)
	for range bootstrapResamples {
		for i := range n {
			j := rng.IntN(n)
			ra[i], rb[i] = a[j], b[j]
		}
		if q, ok := meanRatio(ra, rb); ok {
			ratios = append(ratios, q)
		}
	}
	if len(ratios) < bootstrapResamples*95/100 {
		return 0, 0, false
	}
	slices.Sort(ratios)
	return percentile(ratios, 0.025), percentile(ratios, 0.975), true
}

// percentile is the p-quantile of sorted by linear interpolation between
// the nearest ranks.
func percentile(sorted []float64, p float64) float64 {
	x := p * float64(len(sorted)-1)
	i := int(x)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (x-float64(i))*(sorted[i+1]-sorted[i])
}
