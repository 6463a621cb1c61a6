package metrics

import (
	"strings"
	"testing"

	"github.com/turnstile-relay/turnstile/relay"
)

// FuzzCollectorLabels feeds arbitrary label values (as a buggy source or an
// embedder's policy might produce them) through a full scrape: it must not
// fail or panic, every exported label value must be bounded, and capping
// must not lose counts.
func FuzzCollectorLabels(f *testing.F) {
	f.Add("no_permission\nloopback")
	f.Add("192.0.2.1\n[2001:db8::1]:3478\n1700000000:alice")
	f.Add("other\nother\n\n")
	f.Add("\xff\xfe\x00\n\"}\n{severity=\"ERROR\"}")
	f.Fuzz(func(t *testing.T, text string) {
		keys := strings.Split(text, "\n")
		if len(keys) > 4*maxSeries {
			keys = keys[:4*maxSeries]
		}
		st := relay.Stats{
			Drops:        map[string]uint64{},
			AuthFailures: map[string]uint64{},
			PeerDenials:  map[string]uint64{},
			Packets:      map[string]map[string]uint64{},
			Requests:     map[string]map[string]uint64{},
		}
		for _, k := range keys {
			st.Drops[k]++
			st.AuthFailures[k]++
			st.PeerDenials[k]++
			if st.Packets[k] == nil {
				st.Packets[k] = map[string]uint64{}
			}
			st.Packets[k][k]++
			if st.Requests["allocate"] == nil {
				st.Requests["allocate"] = map[string]uint64{}
			}
			st.Requests["allocate"][k]++
		}
		var drops float64
		for _, n := range st.Drops {
			drops += float64(n)
		}
		src := &fakeSource{}
		src.set(st, false)
		m, err := New(src, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		fams := gather(t, m.Gatherer())
		for name, mf := range fams {
			if !strings.HasPrefix(name, "turnstile_") {
				continue
			}
			if len(mf.GetMetric()) > maxSeries {
				t.Fatalf("%s: %d series above the cap", name, len(mf.GetMetric()))
			}
			for _, sm := range mf.GetMetric() {
				for _, lp := range sm.GetLabel() {
					if boundedLabel(lp.GetValue()) != lp.GetValue() {
						t.Fatalf("%s: unbounded label value %q", name, lp.GetValue())
					}
				}
			}
		}
		var sum float64
		for _, sm := range fams["turnstile_dropped_total"].GetMetric() {
			sum += sm.GetCounter().GetValue()
		}
		if sum != drops {
			t.Fatalf("drops sum to %g after bounding, want %g", sum, drops)
		}
	})
}
