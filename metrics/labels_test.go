package metrics

import (
	"fmt"
	"strings"
	"testing"
)

func TestBoundedLabel(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"no_permission", "no_permission"},
		{"403", "403"},
		{"success", "success"},
		{"a", "a"},
		{strings.Repeat("x", maxLabelLen), strings.Repeat("x", maxLabelLen)},
		{strings.Repeat("x", maxLabelLen+1), otherLabel},
		{"", otherLabel},
		{"192.0.2.1", otherLabel},
		{"2001:db8::1", otherLabel},
		{"[::1]:3478", otherLabel},
		{"1700000000:alice", otherLabel},
		{"Alice", otherLabel},
		{"has space", otherLabel},
		{"new\nline", otherLabel},
		{"quote\"", otherLabel},
		{"caf\u00e9", otherLabel},
		{"\xff\xfe", otherLabel},
		{"dash-ed", otherLabel},
	} {
		if got := boundedLabel(tc.in); got != tc.want {
			t.Errorf("boundedLabel(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// collectSeries returns s as "label,label=value" lines in emission order.
func collectSeries(s *series) []string {
	var out []string
	s.each(func(v float64, lvs []string) {
		out = append(out, fmt.Sprintf("%s=%g", strings.Join(lvs, ","), v))
	})
	return out
}

func TestSeriesMergesMalformedValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		add  [][]string // label values; each added with value 1
		want []string
	}{
		{"distinct", [][]string{{"a"}, {"b"}}, []string{"a=1", "b=1"}},
		{"repeat sums", [][]string{{"a"}, {"a"}}, []string{"a=2"}},
		{"malformed values merge into other", [][]string{{"10.0.0.1"}, {"bob smith"}, {"other"}}, []string{"other=3"}},
		{"two labels bounded separately", [][]string{{"to_peer", "udp"}, {"to_peer", "UDP"}}, []string{"to_peer,udp=1", "to_peer,other=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSeries()
			for _, lvs := range tc.add {
				s.add(1, lvs...)
			}
			got := collectSeries(s)
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSeriesCapsCombinations(t *testing.T) {
	s := newSeries()
	for i := 0; i < 3*maxSeries; i++ {
		s.add(1, fmt.Sprintf("v%d", i), "x")
	}
	got := collectSeries(s)
	if len(got) != maxSeries {
		t.Fatalf("%d series, want the cap %d", len(got), maxSeries)
	}
	// The first maxSeries-1 combinations are kept; the rest sum into
	// other,other.
	if want := fmt.Sprintf("other,other=%d", 3*maxSeries-(maxSeries-1)); got[len(got)-1] != want {
		t.Fatalf("last series %q, want %q", got[len(got)-1], want)
	}
	var total float64
	s.each(func(v float64, _ []string) { total += v })
	if total != 3*maxSeries {
		t.Fatalf("values sum to %g, want %d: the cap must not lose counts", total, 3*maxSeries)
	}
}
