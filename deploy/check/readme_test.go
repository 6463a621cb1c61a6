package check

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const (
	schemaFile = "../helm/turnstile/values.schema.json"
	readmeFile = "../helm/turnstile/README.md"
)

// jsonSchema is the part of a JSON Schema this test walks.
type jsonSchema struct {
	Ref        string                 `json:"$ref"`
	Properties map[string]*jsonSchema `json:"properties"`
}

// valuePaths lists the dotted paths of the schema's leaf values: a property with
// properties of its own is descended into, anything else is a leaf. $ref is
// resolved against definitions.
func valuePaths(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var root struct {
		jsonSchema
		Definitions map[string]*jsonSchema `json:"definitions"`
	}
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatalf("%s: %v", schemaFile, err)
	}
	var paths []string
	var walk func(prefix string, s *jsonSchema)
	walk = func(prefix string, s *jsonSchema) {
		if name, ok := strings.CutPrefix(s.Ref, "#/definitions/"); ok {
			def, found := root.Definitions[name]
			if !found {
				t.Fatalf("%s: $ref to missing definition %s", prefix, name)
			}
			s = def
		}
		if len(s.Properties) == 0 {
			paths = append(paths, prefix)
			return
		}
		for name, child := range s.Properties {
			walk(strings.TrimPrefix(prefix+"."+name, "."), child)
		}
	}
	for name, child := range root.Properties {
		if name == "global" { // reserved by Helm for parent charts
			continue
		}
		walk(name, child)
	}
	slices.Sort(paths)
	return paths
}

// The README's values table documents every value the schema accepts, and
// nothing else.
func TestReadmeDocumentsEveryValue(t *testing.T) {
	data, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Za-z0-9.]+)` \\|")
	var documented []string
	for _, m := range row.FindAllStringSubmatch(string(data), -1) {
		documented = append(documented, m[1])
	}
	schemaPaths := valuePaths(t)
	for _, p := range schemaPaths {
		if !slices.Contains(documented, p) {
			t.Errorf("value %s is missing from the README values table", p)
		}
	}
	for _, d := range documented {
		if !slices.Contains(schemaPaths, d) {
			t.Errorf("README documents %s, which the schema does not know", d)
		}
	}
	if len(documented) != len(slices.Compact(slices.Sorted(slices.Values(documented)))) {
		t.Error("README values table lists a key twice")
	}
}
