package archtest

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated blocks of docs/architecture.md from the code")

// The generated part of the architecture page lies between these lines.
const (
	beginMarker = "<!-- archtest:begin -->"
	endMarker   = "<!-- archtest:end -->"
)

// pkg is one package of the build graph as go list reports it.
type pkg struct {
	path     string   // import path
	standard bool     // part of the standard library
	imports  []string // direct imports, import paths
}

// graph is the module's non-test packages and everything they depend on.
type graph struct {
	module string         // module path
	root   string         // module directory
	pkgs   map[string]pkg // by import path, dependencies included
	own    []string       // the module's packages, module-relative, sorted
}

// loadGraph runs go list over the module's packages (tests are not part of
// the build graph: go list without -test leaves them out).
func loadGraph(t *testing.T) *graph {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Path}}\t{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	module, root, ok := strings.Cut(strings.TrimSpace(string(out)), "\t")
	if !ok {
		t.Fatalf("go list -m: unexpected output %q", out)
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}\t{{.Standard}}\t{{join .Imports \" \"}}", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./...: %v\n%s", err, stderr.Bytes())
	}
	g := &graph{module: module, root: root, pkgs: map[string]pkg{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 3 {
			t.Fatalf("go list: unexpected line %q", sc.Text())
		}
		p := pkg{path: fields[0], standard: fields[1] == "true", imports: strings.Fields(fields[2])}
		g.pkgs[p.path] = p
		if rel, ok := g.rel(p.path); ok {
			g.own = append(g.own, rel)
		}
	}
	slices.Sort(g.own)
	return g
}

// rel returns path relative to the module, and whether it is the module's.
func (g *graph) rel(path string) (string, bool) {
	if path == g.module {
		return ".", true
	}
	rel, ok := strings.CutPrefix(path, g.module+"/")
	return rel, ok
}

// abs is the import path of the module-relative package rel.
func (g *graph) abs(rel string) string {
	if rel == "." {
		return g.module
	}
	return g.module + "/" + rel
}

// ownImports returns the module's packages that rel imports directly,
// module-relative and sorted.
func (g *graph) ownImports(rel string) []string {
	var deps []string
	for _, imp := range g.pkgs[g.abs(rel)].imports {
		if r, ok := g.rel(imp); ok {
			deps = append(deps, r)
		}
	}
	slices.Sort(deps)
	return deps
}

// closure returns every package rel imports, directly or not, standard
// library included, each with the chain of imports that reaches it.
func (g *graph) closure(rel string) map[string][]string {
	start := g.abs(rel)
	via := map[string][]string{}
	queue := []string{start}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, imp := range g.pkgs[p].imports {
			if _, seen := via[imp]; seen || imp == start {
				continue
			}
			via[imp] = append(slices.Clone(via[p]), imp)
			queue = append(queue, imp)
		}
	}
	return via
}

// edgeLines is the package graph as documented: one line per package of
// the module, "pkg -> dep, dep" with its direct imports inside the module.
func (g *graph) edgeLines() []string {
	lines := make([]string, 0, len(g.own))
	for _, p := range g.own {
		deps := g.ownImports(p)
		if len(deps) == 0 {
			lines = append(lines, p+" -> (none)")
			continue
		}
		lines = append(lines, p+" -> "+strings.Join(deps, ", "))
	}
	return lines
}

// block renders the generated part of the architecture page: the exact
// edge list, and a drawing of the daemon's packages without the edges
// implied by others (a transitive reduction), which stays readable.
func (g *graph) block() string {
	var b strings.Builder
	b.WriteString(beginMarker + "\n\n")
	b.WriteString("```mermaid\nflowchart TD\n")
	daemon := []string{daemonCmd}
	for p := range g.closure(daemonCmd) {
		if r, ok := g.rel(p); ok {
			daemon = append(daemon, r)
		}
	}
	slices.Sort(daemon)
	for _, p := range daemon {
		fmt.Fprintf(&b, "    %s[\"%s\"]\n", nodeID(p), p)
	}
	for _, p := range daemon {
		for _, d := range g.reducedImports(p) {
			fmt.Fprintf(&b, "    %s --> %s\n", nodeID(p), nodeID(d))
		}
	}
	b.WriteString("```\n\n")
	b.WriteString("Every package of the module and the module's packages it imports:\n\n")
	b.WriteString("```imports\n")
	for _, l := range g.edgeLines() {
		b.WriteString(l + "\n")
	}
	b.WriteString("```\n\n" + endMarker)
	return b.String()
}

// daemonCmd is the package whose dependencies the drawing shows.
const daemonCmd = "cmd/turnstile"

// reducedImports returns rel's direct imports inside the module that no
// other of its imports already reaches.
func (g *graph) reducedImports(rel string) []string {
	deps := g.ownImports(rel)
	var kept []string
	for _, d := range deps {
		implied := false
		for _, other := range deps {
			if other == d {
				continue
			}
			if _, ok := g.closure(other)[g.abs(d)]; ok {
				implied = true
				break
			}
		}
		if !implied {
			kept = append(kept, d)
		}
	}
	return kept
}

// nodeID makes a Mermaid node name of a package path.
func nodeID(rel string) string {
	return strings.NewReplacer("/", "_", "-", "_", ".", "root").Replace(rel)
}

// generated returns the generated part of the page and the text around it.
func generated(page string) (before, block, after string, ok bool) {
	i := strings.Index(page, beginMarker)
	j := strings.Index(page, endMarker)
	if i < 0 || j < i {
		return "", "", "", false
	}
	return page[:i], page[i : j+len(endMarker)], page[j+len(endMarker):], true
}

// TestDocumentedGraph compares the package graph in docs/architecture.md
// with the imports of the code, and rewrites it with -update.
func TestDocumentedGraph(t *testing.T) {
	g := loadGraph(t)
	path := filepath.Join(g.root, "docs", "architecture.md")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before, block, after, ok := generated(string(data))
	if !ok {
		t.Fatalf("%s: no %s … %s section", path, beginMarker, endMarker)
	}
	want := g.block()
	if *update {
		if block != want {
			if err := os.WriteFile(path, []byte(before+want+after), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("rewrote the package graph in %s", path)
		}
		return
	}
	if block == want {
		return
	}
	documented := importLines(block)
	actual := g.edgeLines()
	var diff strings.Builder
	for _, l := range documented {
		if !slices.Contains(actual, l) {
			fmt.Fprintf(&diff, "  - %s   (documented, not in the code)\n", l)
		}
	}
	for _, l := range actual {
		if !slices.Contains(documented, l) {
			fmt.Fprintf(&diff, "  + %s   (in the code, not documented)\n", l)
		}
	}
	if diff.Len() == 0 {
		diff.WriteString("  (the import lists agree; the drawing or the layout of the block differs)\n")
	}
	t.Errorf("docs/architecture.md's package graph differs from the code:\n%s"+
		"If the change is intended, run: go test ./internal/archtest -update", diff.String())
}

// importLines returns the lines of the fenced imports block in block.
func importLines(block string) []string {
	_, rest, ok := strings.Cut(block, "```imports\n")
	if !ok {
		return nil
	}
	body, _, _ := strings.Cut(rest, "```")
	return strings.Split(strings.TrimSuffix(body, "\n"), "\n")
}
