package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// header describes the run in a few lines (shared by text and Markdown).
func (r *Report) header() []string {
	m := r.Machine
	kind := "full"
	if r.Quick {
		kind = "quick (smoke run: short windows, not for quoting)"
	}
	agg := fmt.Sprintf("median of %d runs, in parentheses the lowest and highest run (for ratios: of the per-run ratios)", r.Runs)
	if r.Runs == 1 {
		agg = "1 run"
	}
	return []string{
		fmt.Sprintf("Machine: %d CPUs (nproc), %s, %s RAM, Linux %s, %s, coturn %s.",
			m.CPUs, m.CPUModel, m.MemTotal, m.Kernel, m.GoVersion, m.Coturn),
		fmt.Sprintf("Each server gets %d relay threads (GOMAXPROCS=%d for turnstile and pion, --relay-threads=%d for coturn).",
			r.Threads, r.Threads, r.Threads),
		r.placement(),
		fmt.Sprintf("Run: %s, %s (counts of failures: worst run), %s, %.0f s, tree %s. Ratios are turnstile / other.",
			kind, agg, r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Seconds, r.Revision),
	}
}

// placement says where the servers and the load generator ran.
func (r *Report) placement() string {
	if len(r.ServerCPUs) == 0 {
		return "The load generator runs on the same cores as the server: absolute numbers include its cost; compare the ratios."
	}
	return fmt.Sprintf("Every server is pinned to CPU %s, the load generator (with its echo peers) to CPU %s; "+
		"whole-machine CPU per packet also counts the generator and the kernel's softirq work on every CPU.",
		cpuList(r.ServerCPUs), cpuList(r.GeneratorCPUs))
}

func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = fmt.Sprint(c)
	}
	return strings.Join(s, ",")
}

// WriteText prints the comparison tables for a terminal.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, line := range r.header() {
		b.WriteString(line + "\n")
	}
	b.WriteString("Command: " + r.Command + "\n")
	for _, load := range r.Loads {
		b.WriteString("\n" + load.Title + "\n")
		tw := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
		fmt.Fprintf(tw, "metric\tunit\tbetter\t%s\tts/coturn\tts/pion\tissue 6 target\n", strings.Join(r.Servers, "\t"))
		for _, row := range load.Rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.Title, row.Unit, better(row),
				strings.Join(r.values(row, load), "\t"), rowRatio(row, Coturn), rowRatio(row, Pion), verdict(row))
		}
		tw.Flush()
		for _, line := range r.notApplicable(load) {
			b.WriteString(line + "\n")
		}
	}
	if len(r.Errors) > 0 {
		b.WriteString("\nFailed measurements:\n")
		for _, e := range r.Errors {
			b.WriteString("  " + e + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes the same tables as Markdown, for docs/performance.md.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("## turnstile vs coturn vs pion/turn\n\n")
	for _, line := range r.header() {
		b.WriteString("- " + line + "\n")
	}
	b.WriteString("- Command: `" + r.Command + "`\n")
	for _, c := range r.Charts {
		fmt.Fprintf(&b, "\n![%s](%s)\n", c, c)
	}
	for _, load := range r.Loads {
		b.WriteString("\n### " + load.Title + "\n\n")
		fmt.Fprintf(&b, "| metric | unit | better | %s | ts/coturn | ts/pion | issue 6 target |\n", strings.Join(r.Servers, " | "))
		b.WriteString("|---|---|---|" + strings.Repeat("---:|", len(r.Servers)) + "---:|---:|---|\n")
		for _, row := range load.Rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", row.Title, row.Unit, better(row),
				strings.Join(r.values(row, load), " | "), rowRatio(row, Coturn), rowRatio(row, Pion), verdict(row))
		}
		if lines := r.notApplicable(load); len(lines) > 0 {
			b.WriteString("\n" + strings.Join(lines, "\n") + "\n")
		}
	}
	if len(r.Errors) > 0 {
		b.WriteString("\nFailed measurements:\n\n")
		for _, e := range r.Errors {
			b.WriteString("- " + e + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// notApplicable explains, one line per server, why load has no values for
// it.
func (r *Report) notApplicable(load LoadRows) []string {
	var out []string
	for _, s := range r.Servers {
		if why, ok := load.NotApplicable[s]; ok {
			out = append(out, fmt.Sprintf("n/a for %s: %s", s, why))
		}
	}
	return out
}

// values renders each server's value of row, "-" where missing and "n/a"
// where the load cannot run on the server.
func (r *Report) values(row Row, load LoadRows) []string {
	out := make([]string, len(r.Servers))
	for i, s := range r.Servers {
		out[i] = "-"
		if _, na := load.NotApplicable[s]; na {
			out[i] = "n/a"
		}
		if v, ok := row.Values[s]; ok {
			out[i] = formatSummary(v, row.Aggregate == "worst")
		}
	}
	return out
}

func better(row Row) string {
	if row.LowerIsBetter {
		return "lower"
	}
	return "higher"
}

func rowRatio(row Row, other string) string {
	v, ok := row.Ratios[other]
	rg, haveRange := row.RatioRanges[other]
	return formatRatio(v, ok, rg, haveRange)
}
