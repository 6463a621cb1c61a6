package bench

import (
	"fmt"
	"math"
	"time"
)

// Report is a whole benchmark run: where, how, every measurement, and per
// load the aggregated metrics with their ratios. It marshals to JSON.
type Report struct {
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	Machine Machine   `json:"machine"`
	// Command is how the run was started, for reproduction.
	Command string `json:"command"`
	// Revision is `git describe --always --dirty` of the tree the servers
	// were built from ("" outside a git checkout).
	Revision string `json:"revision,omitempty"`
	Quick    bool   `json:"quick"`
	Runs     int    `json:"runs"`
	// Threads is what every server was given (see ServerSettings.Threads).
	Threads int `json:"threads"`
	// ServerCPUs and GeneratorCPUs are the CPUs the servers and the load
	// generator were pinned to (none: not pinned).
	ServerCPUs    []int      `json:"server_cpus,omitempty"`
	GeneratorCPUs []int      `json:"generator_cpus,omitempty"`
	Servers       []string   `json:"servers"`
	Loads         []LoadRows `json:"loads"`
	// Charts are the image files drawn beside the report (names relative
	// to its directory).
	Charts []string `json:"charts,omitempty"`
	// Errors lists the measurements that failed, one line each.
	Errors       []string      `json:"errors,omitempty"`
	Measurements []Measurement `json:"measurements"`
}

// LoadRows is one load's aggregated metrics.
type LoadRows struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	Rows  []Row  `json:"metrics"`
	// NotApplicable maps a server the load cannot run on to the reason
	// (Load.NotApplicable); its values read "n/a".
	NotApplicable map[string]string `json:"not_applicable,omitempty"`
}

// Row is one metric across the servers.
type Row struct {
	Key           string `json:"key"`
	Title         string `json:"title"`
	Unit          string `json:"unit"`
	LowerIsBetter bool   `json:"lower_is_better"`
	// Aggregate is "median" or "worst" (over the runs).
	Aggregate string `json:"aggregate"`
	// Values maps a server name to its summary; servers without a value
	// are missing.
	Values map[string]Summary `json:"values"`
	// Ratios maps "coturn" and "pion" to turnstile's value over theirs.
	Ratios map[string]float64 `json:"ratios,omitempty"`
	// RatioRanges maps the same servers to the lowest and highest of the
	// per-repetition ratios (turnstile's value in run k over theirs in run
	// k), over the runs both measured: the spread behind Ratios.
	RatioRanges map[string]Range `json:"ratio_ranges,omitempty"`
	// Target is issue 6's goal ("" when none); TargetMet is nil when no
	// verdict is possible.
	Target    string `json:"target,omitempty"`
	TargetMet *bool  `json:"target_met,omitempty"`
}

// BuildReport aggregates measurements taken with loads on servers;
// measurements with an Error are left out of the aggregates.
func BuildReport(loads []Load, servers []string, ms []Measurement) []LoadRows {
	var out []LoadRows
	for _, load := range loads {
		lr := LoadRows{Name: load.Name, Title: load.Title, NotApplicable: load.NotApplicable}
		for _, metric := range load.Metrics {
			lr.Rows = append(lr.Rows, buildRow(metric, load.Name, servers, ms))
		}
		out = append(out, lr)
	}
	return out
}

func buildRow(metric Metric, load string, servers []string, ms []Measurement) Row {
	row := Row{
		Key: metric.Key, Title: metric.Title, Unit: metric.Unit, LowerIsBetter: metric.LowerIsBetter,
		Aggregate: "median", Values: map[string]Summary{}, Target: metric.Target.String(),
	}
	if metric.Worst {
		row.Aggregate = "worst"
	}
	byRun := map[string]map[int]float64{}
	for _, server := range servers {
		var samples []float64
		byRun[server] = map[int]float64{}
		for _, m := range ms {
			// A failed measurement (server crash, cancelled run) is kept in
			// the report's list but counts for no metric.
			if v, ok := m.Values[metric.Key]; ok && m.Load == load && m.Server == server && m.Error == "" {
				samples = append(samples, v)
				byRun[server][m.Run] = v
			}
		}
		if len(samples) > 0 {
			row.Values[server] = summarize(metric, samples)
		}
	}
	ts, haveTS := row.Values[Turnstile]
	if haveTS && !metric.NoRatio {
		for _, other := range []string{Coturn, Pion} {
			if o, ok := row.Values[other]; ok {
				if r, ok := ratio(ts.Value, o.Value); ok {
					if row.Ratios == nil {
						row.Ratios = map[string]float64{}
					}
					row.Ratios[other] = r
				}
			}
			if rg, ok := ratioRange(byRun[Turnstile], byRun[other]); ok {
				if row.RatioRanges == nil {
					row.RatioRanges = map[string]Range{}
				}
				row.RatioRanges[other] = rg
			}
		}
	}
	if haveTS {
		co, haveCo := row.Values[Coturn]
		if met, ok := metric.Target.Met(ts.Value, co.Value, haveCo); ok {
			row.TargetMet = &met
		}
	}
	return row
}

// Failures lists the measurements with an error, one line each.
func Failures(ms []Measurement) []string {
	var out []string
	for _, m := range ms {
		if m.Error != "" {
			out = append(out, fmt.Sprintf("run %d, %s, %s: %s", m.Run, m.Load, m.Server, m.Error))
		}
	}
	return out
}

// formatValue prints a metric value with a precision that suits its size.
func formatValue(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "-"
	case v == math.Trunc(v) && a < 1e15:
		return fmt.Sprintf("%.0f", v) // counts and whole numbers
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 0.01:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.2g", v)
	}
}

// formatRatio prints a ratio with three decimals, enough to show why a
// ratio near a target's bound missed it ("-" when absent), followed by the
// range of the per-repetition ratios when there were several, e.g.
// "0.780 (0.740–0.820)".
func formatRatio(r float64, ok bool, rg Range, haveRange bool) string {
	if !ok {
		return "-"
	}
	s := fmt.Sprintf("%.3f", r)
	if haveRange && rg.Runs > 1 {
		s += fmt.Sprintf(" (%.3f–%.3f)", rg.Min, rg.Max)
	}
	return s
}

// formatSummary prints a server's value of a row: the median followed by
// the lowest and highest repetition when there were several ("600
// (500–700)"); a worst-run value stands alone, being an extreme already.
func formatSummary(s Summary, worst bool) string {
	v := formatValue(s.Value)
	if !worst && len(s.Samples) > 1 {
		v += " (" + formatValue(s.Min) + "–" + formatValue(s.Max) + ")"
	}
	return v
}

// verdict renders a target and whether it was met.
func verdict(row Row) string {
	switch {
	case row.Target == "":
		return ""
	case row.TargetMet == nil:
		return row.Target + " (no verdict)"
	case *row.TargetMet:
		return row.Target + " met"
	default:
		return row.Target + " MISSED"
	}
}
