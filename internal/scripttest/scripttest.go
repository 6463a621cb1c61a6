// Package scripttest runs data-driven test scripts: each file under a
// directory is run by a package's interpreter, which returns the script
// with its expected outputs recomputed; the test fails with a line diff when
// they differ, and -rewrite writes the recomputed script back for review.
// The gateway's and the TURN core's scenario tests share it.
package scripttest

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of data-driven test scripts")

// Run runs every file matching pattern through run, one subtest each.
// rerun names the command that regenerates them, for the failure message.
func Run(t *testing.T, pattern, rerun string, run func(t *testing.T, script string) string) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts match %s: %v", pattern, err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got := run(t, string(data))
			if got == string(data) {
				return
			}
			if *rewrite {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			t.Errorf("%s differs from its run (%s, then review the diff):\n%s", file, rerun, LineDiff(string(data), got))
		})
	}
}

// LineDiff is a unified-style diff of the expected and the produced
// script ("-" expected, "+" produced), with line numbers of the expected
// file, from a longest common subsequence of lines (scripts are short).
func LineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	// lcs[i][j] is the LCS length of w[i:] and g[j:].
	lcs := make([][]int, len(w)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(g)+1)
	}
	for i := len(w) - 1; i >= 0; i-- {
		for j := len(g) - 1; j >= 0; j-- {
			if w[i] == g[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var b strings.Builder
	shown := 0
	for i, j := 0, 0; (i < len(w) || j < len(g)) && shown < 40; {
		switch {
		case i < len(w) && j < len(g) && w[i] == g[j]:
			i, j = i+1, j+1
		case j < len(g) && (i == len(w) || lcs[i][j+1] >= lcs[i+1][j]):
			fmt.Fprintf(&b, "line %d: + %s\n", i+1, g[j])
			j++
			shown++
		default:
			fmt.Fprintf(&b, "line %d: - %s\n", i+1, w[i])
			i++
			shown++
		}
	}
	return b.String()
}
