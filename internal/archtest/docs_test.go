package archtest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeMaxLines keeps README a front door: the detail lives in docs/.
const readmeMaxLines = 200

// markdownLink matches the target of an inline Markdown link.
var markdownLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestDocsAreLinked checks that README stays short and links every page of
// docs/, and that every relative link in README and docs/ names a file
// that exists.
func TestDocsAreLinked(t *testing.T) {
	root := loadGraph(t).root
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(readme), "\n"); n > readmeMaxLines {
		t.Errorf("README.md has %d lines; at most %d (move detail to docs/)", n, readmeMaxLines)
	}
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil || len(pages) == 0 {
		t.Fatalf("no pages in docs/ (%v)", err)
	}
	for _, p := range pages {
		rel := "docs/" + filepath.Base(p)
		if !strings.Contains(string(readme), "]("+rel+")") {
			t.Errorf("README.md does not link %s", rel)
		}
	}
	for _, file := range append([]string{filepath.Join(root, "README.md")}, pages...) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range markdownLink.FindAllStringSubmatch(string(data), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(file), target)); err != nil {
				t.Errorf("%s links %s, which does not exist", filepath.Base(file), m[1])
			}
		}
	}
}
