package config

import (
	"os"
	"regexp"
	"testing"

	envlib "github.com/caarlos0/env/v11"
)

// TestDocTable keeps the variable table in doc.go (which docs/configuration.md
// copies) in step with rawEnv: every variable documented, every documented
// variable read, every default as written in the envDefault tag.
func TestDocTable(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^//\t(TURNSTILE_[A-Z0-9_]+) +(\S+(?: \S+)*?)  +\S`)
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(src), -1) {
		documented[m[1]] = m[2]
	}
	params, err := envlib.GetFieldParams(&rawEnv{})
	if err != nil {
		t.Fatal(err)
	}
	if len(documented) != len(params) {
		t.Errorf("doc.go documents %d variables, rawEnv reads %d", len(documented), len(params))
	}
	for _, fp := range params {
		def, ok := documented[fp.Key]
		switch {
		case !ok:
			t.Errorf("%s is not in the doc.go table", fp.Key)
		case fp.HasDefaultValue && def != fp.DefaultValue:
			t.Errorf("%s: doc.go says default %q, the envDefault tag says %q", fp.Key, def, fp.DefaultValue)
		case !fp.HasDefaultValue && def != "(none)" && fp.Key != varRelayIPs:
			t.Errorf("%s: doc.go says default %q, but there is none", fp.Key, def)
		}
	}
}

// TestConfigurationPage keeps docs/configuration.md's table in step with
// rawEnv the same way: every variable listed once, with its default.
func TestConfigurationPage(t *testing.T) {
	src, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(TURNSTILE_[A-Z0-9_]+)` \\| ([^|]+?) \\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(src), -1) {
		if _, twice := documented[m[1]]; twice {
			t.Errorf("%s is listed twice", m[1])
		}
		documented[m[1]] = m[2]
	}
	params, err := envlib.GetFieldParams(&rawEnv{})
	if err != nil {
		t.Fatal(err)
	}
	if len(documented) != len(params) {
		t.Errorf("docs/configuration.md lists %d variables, rawEnv reads %d", len(documented), len(params))
	}
	for _, fp := range params {
		def, ok := documented[fp.Key]
		switch {
		case !ok:
			t.Errorf("%s is not in docs/configuration.md", fp.Key)
		case fp.HasDefaultValue && def != fp.DefaultValue:
			t.Errorf("%s: docs/configuration.md says default %q, the envDefault tag says %q", fp.Key, def, fp.DefaultValue)
		case !fp.HasDefaultValue && def != "(none)" && fp.Key != varRelayIPs:
			t.Errorf("%s: docs/configuration.md says default %q, but there is none", fp.Key, def)
		}
	}
}
