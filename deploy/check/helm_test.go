package check

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Paths relative to this package's directory, where go test runs.
const (
	chartDir         = "../helm/turnstile"
	bareMetalExample = "../helm/examples/bare-metal-values.yaml"
	deploymentValues = "testdata/deployment-values.yaml"
	xdpValues        = "testdata/xdp-values.yaml"
	releaseName      = "turnstile"
	releaseNamespace = "relay"
)

// helmBinary is the pinned helm that run.sh built. A missing binary fails the
// test: these checks are never skipped.
func helmBinary(t testing.TB) string {
	t.Helper()
	path := os.Getenv("TURNSTILE_HELM")
	if path == "" {
		t.Fatal("TURNSTILE_HELM is not set: run deploy/check/run.sh, which builds the pinned helm and sets it")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("TURNSTILE_HELM: %v", err)
	}
	return path
}

// runHelm runs helm with args, isolated from the user's helm configuration, and
// returns its standard output and standard error.
func runHelm(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helmBinary(t), args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("running helm: %v", err)
	}
	return out.String(), errOut.String(), err
}

// renderChart runs `helm template` with the given values files, in order.
func renderChart(t testing.TB, valuesFiles ...string) (manifest, stderr string, err error) {
	t.Helper()
	args := []string{"template", releaseName, chartDir, "--namespace", releaseNamespace}
	for _, f := range valuesFiles {
		args = append(args, "--values", f)
	}
	return runHelm(t, args...)
}

// mustRender renders the chart and fails the test if helm refuses.
func mustRender(t testing.TB, valuesFiles ...string) string {
	t.Helper()
	manifest, stderr, err := renderChart(t, valuesFiles...)
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", valuesFiles, err, stderr)
	}
	return manifest
}

// writeValues writes a values overlay to a temporary file and returns its path.
func writeValues(t testing.TB, yamlText string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(path, []byte(yamlText), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// splitDocuments splits a multi-document YAML stream and drops documents that hold
// only comments or whitespace (helm prints a "# Source:" line before each one).
func splitDocuments(t testing.TB, manifest string) [][]byte {
	t.Helper()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("splitting rendered YAML: %v", err)
		}
		if hasContent(doc) {
			docs = append(docs, doc)
		}
	}
}

func hasContent(doc []byte) bool {
	for line := range strings.SplitSeq(string(doc), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed != "" && trimmed != "---" && !strings.HasPrefix(trimmed, "#") {
			return true
		}
	}
	return false
}

// sourceOf returns the template path helm names in a document's "# Source:" line.
func sourceOf(doc []byte) string {
	for line := range strings.SplitSeq(string(doc), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "# Source: "); ok {
			return rest
		}
	}
	return "(unknown template)"
}
