package archtest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// cores decide and do no I/O (docs/architecture.md, Cores and shells). A
// core listed here that does not exist yet is skipped.
var cores = []string{"allocation", "auth", "peerpolicy", "gateway", "turncore", "sourcebudget"}

// shells are the packages that own sockets, processes or HTTP; a path ending
// in "/..." stands for the package and everything below it.
var shells = []string{"relay/...", "internal/netio/...", "internal/wiring", "cmd/...", "metrics/...", "loadtest/...", "bench/...", "soak/..."}

// coreForbiddenStd are standard packages a core must not reach.
var coreForbiddenStd = []string{"net/http", "os/exec"}

// knownViolations are rule breaks that exist on purpose for now, each with
// the reason and the change that ends it. The test fails when one of them
// is gone, so the exception is deleted with the code that needed it.
var knownViolations = map[string]string{}

// matches reports whether the module-relative package rel is pattern or,
// for a pattern ending in "/...", lies below it.
func matches(rel, pattern string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return rel == base || strings.HasPrefix(rel, base+"/")
	}
	return rel == pattern
}

func matchesAny(rel string, patterns []string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return matches(rel, p) })
}

// violation is one broken rule: from reaches to through chain.
type violation struct {
	from, to string
	chain    []string
	rule     string
}

func (v violation) key() string { return v.from + " reaches " + v.to }

// layeringViolations checks every rule against g.
func layeringViolations(g *graph) []violation {
	var out []violation
	reach := func(from, rule string, forbidden func(path string) (string, bool)) {
		for path, chain := range g.closure(from) {
			if name, bad := forbidden(path); bad {
				var rels []string
				for _, c := range chain {
					r, ok := g.rel(c)
					if !ok {
						r = c
					}
					rels = append(rels, r)
				}
				out = append(out, violation{from: from, to: name, chain: rels, rule: rule})
			}
		}
	}
	own := func(patterns []string) func(string) (string, bool) {
		return func(path string) (string, bool) {
			rel, ok := g.rel(path)
			return rel, ok && matchesAny(rel, patterns)
		}
	}
	for _, p := range g.own {
		if matches(p, "relay/...") {
			reach(p, "the relay and everything it imports never import a gateway package; the gateway plugs in from outside", own([]string{"gateway/..."}))
		}
	}
	for _, c := range cores {
		if !slices.Contains(g.own, c) {
			continue
		}
		reach(c, "a core imports no shell package", own(shells))
		reach(c, "a core does no I/O: no net/http, no os/exec", func(path string) (string, bool) {
			return path, slices.Contains(coreForbiddenStd, path)
		})
	}
	if slices.Contains(g.own, "internal/stunmsg") {
		reach("internal/stunmsg", "the wire codec imports no other package of the module", func(path string) (string, bool) {
			return g.rel(path)
		})
	}
	slices.SortFunc(out, func(a, b violation) int { return strings.Compare(a.key(), b.key()) })
	return out
}

// TestLayering enforces the rules whatever docs/architecture.md says, so a
// regenerated graph cannot make a forbidden import acceptable.
func TestLayering(t *testing.T) {
	g := loadGraph(t)
	seen := map[string]bool{}
	for _, v := range layeringViolations(g) {
		if _, known := knownViolations[v.key()]; known {
			seen[v.key()] = true
			continue
		}
		t.Errorf("%s: %s\n    import chain: %s -> %s", v.key(), v.rule, v.from, strings.Join(v.chain, " -> "))
	}
	for k, why := range knownViolations {
		if !seen[k] {
			t.Errorf("known violation %q (%s) no longer occurs: delete it from knownViolations", k, why)
		}
	}
}

// TestRulesCatchBreaks feeds the rules a graph with one forbidden import per
// rule and checks that each is reported, so a rule that silently matches
// nothing cannot pass.
func TestRulesCatchBreaks(t *testing.T) {
	const m = "example.org/m"
	g := &graph{module: m, pkgs: map[string]pkg{}}
	add := func(rel string, imports ...string) {
		var abs []string
		for _, i := range imports {
			if slices.Contains(coreForbiddenStd, i) {
				abs = append(abs, i)
			} else {
				abs = append(abs, m+"/"+i)
			}
		}
		g.pkgs[m+"/"+rel] = pkg{path: m + "/" + rel, imports: abs}
		g.own = append(g.own, rel)
	}
	add("relay", "internal/helper")
	add("internal/helper", "gateway/sub")
	add("gateway/sub")
	add("allocation", "internal/netio")
	add("internal/netio")
	add("auth", "net/http")
	add("internal/stunmsg", "internal/mono")
	add("internal/mono")
	g.pkgs["net/http"] = pkg{path: "net/http", standard: true}
	slices.Sort(g.own)

	var got []string
	for _, v := range layeringViolations(g) {
		got = append(got, fmt.Sprintf("%s via %s", v.key(), strings.Join(v.chain, ">")))
	}
	want := []string{
		"allocation reaches internal/netio via internal/netio",
		"auth reaches net/http via net/http",
		"internal/stunmsg reaches internal/mono via internal/mono",
		"relay reaches gateway/sub via internal/helper>gateway/sub",
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations of the broken graph:\n got %q\nwant %q", got, want)
	}
}
