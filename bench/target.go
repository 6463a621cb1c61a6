package bench

import "fmt"

// TargetKind is how issue 6 states a goal for one metric.
type TargetKind int

// The kinds of target.
const (
	// NoTarget: the metric is shown for context only.
	NoTarget TargetKind = iota
	// RatioAtMost: turnstile / coturn ≤ Ratio.
	RatioAtMost
	// RatioAtLeast: turnstile / coturn ≥ Ratio.
	RatioAtLeast
	// RatioBelow: turnstile / coturn < Ratio.
	RatioBelow
	// Zero: turnstile's value is 0 (no timeouts, no failures).
	Zero
)

// Target is one of issue 6's "must show" goals, stated against coturn.
type Target struct {
	Kind  TargetKind
	Ratio float64
}

// String renders the target for the tables, e.g. "≤ 0.6× coturn".
func (t Target) String() string {
	switch t.Kind {
	case RatioAtMost:
		return fmt.Sprintf("≤ %g× coturn", t.Ratio)
	case RatioAtLeast:
		return fmt.Sprintf("≥ %g× coturn", t.Ratio)
	case RatioBelow:
		return fmt.Sprintf("< %g× coturn", t.Ratio)
	case Zero:
		return "= 0"
	}
	return ""
}

// Met reports whether turnstile's value meets the target given coturn's;
// ok is false when there is no target or the values do not allow a verdict
// (a ratio against a coturn value of 0).
func (t Target) Met(turnstile, coturn float64, haveCoturn bool) (met, ok bool) {
	if t.Kind == Zero {
		return turnstile == 0, true
	}
	if t.Kind == NoTarget || !haveCoturn || coturn == 0 {
		return false, false
	}
	r := turnstile / coturn
	switch t.Kind {
	case RatioAtMost:
		return r <= t.Ratio, true
	case RatioAtLeast:
		return r >= t.Ratio, true
	case RatioBelow:
		return r < t.Ratio, true
	}
	return false, false
}
