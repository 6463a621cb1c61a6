package metrics

import "strings"

// Label values come from fixed sets defined by the relay (drop reasons,
// methods, result codes, auth reasons, peer-policy verdicts). The collector
// does not trust that blindly: a value outside the shape below is exported
// as "other", and a family never carries more than maxSeries label
// combinations, so no embedder's Refusal reason and no future bug can turn a
// metric into one series per user or per address.

// otherLabel replaces label values that are malformed or beyond the cap.
const otherLabel = "other"

// maxLabelLen is the longest label value exported as is, in bytes.
const maxLabelLen = 48

// maxSeries bounds the label combinations of one family; the relay's
// largest set (requests: 5 methods × 16 results) stays below it.
const maxSeries = 128

// boundedLabel returns v when it is a short snake_case identifier or a
// decimal code (1 to maxLabelLen bytes of a-z, 0-9 and '_'), and "other"
// otherwise. Dots, colons, upper case and every non-ASCII byte are refused,
// so neither an IP address nor free text passes.
func boundedLabel(v string) string {
	if len(v) == 0 || len(v) > maxLabelLen {
		return otherLabel
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return otherLabel
		}
	}
	return v
}

// series sums values by label combination after boundedLabel, keeping at
// most maxSeries combinations: once full, a new combination is counted with
// every label "other". Values merge, so two raw values that both become
// "other" export one series, never a duplicate. Built once per scrape; not
// safe for concurrent use.
type series struct {
	keys   []string            // kept combinations, first-seen order, labels joined by keySep
	labels map[string][]string // combination → its label values
	values map[string]float64
}

// keySep cannot occur in a bounded label value.
const keySep = "\x00"

func newSeries() *series {
	return &series{labels: make(map[string][]string), values: make(map[string]float64)}
}

// add counts n under the label values lvs (one per label of the family).
func (s *series) add(n float64, lvs ...string) {
	bounded := make([]string, len(lvs))
	for i, v := range lvs {
		bounded[i] = boundedLabel(v)
	}
	key := strings.Join(bounded, keySep)
	if _, ok := s.labels[key]; !ok && len(s.keys) >= maxSeries-1 {
		for i := range bounded {
			bounded[i] = otherLabel
		}
		key = strings.Join(bounded, keySep)
	}
	if _, ok := s.labels[key]; !ok {
		s.keys = append(s.keys, key)
		s.labels[key] = bounded
	}
	s.values[key] += n
}

// each calls f for every kept combination in first-seen order.
func (s *series) each(f func(value float64, labelValues []string)) {
	for _, k := range s.keys {
		f(s.values[k], s.labels[k])
	}
}
