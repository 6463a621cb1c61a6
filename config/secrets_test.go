package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/turnstile-relay/turnstile/internal/testcert"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAuthSecretsVariable(t *testing.T) {
	other := "another-secret-0123456789"
	runVarCases(t, []varCase{
		{name: "two secrets", set: map[string]string{varAuthSecrets: testSecret + ", " + other},
			check: func(c *Config) bool {
				return len(c.AuthSecrets) == 2 && c.AuthSecrets[0].Expose() == testSecret &&
					c.AuthSecrets[1].Expose() == other && c.AuthSecretsFile == ""
			}},
		{name: "short secret", set: map[string]string{varAuthSecrets: "tooshort"},
			wantVar: varAuthSecrets, fragments: []string{"secret 1 is 8 bytes; at least 16"}},
		{name: "repeated secret", set: map[string]string{varAuthSecrets: testSecret + "," + testSecret},
			wantVar: varAuthSecrets, fragments: []string{"secret 2 repeats secret 1"}},
		{name: "nine secrets", set: map[string]string{varAuthSecrets: nineSecrets()},
			wantVar: varAuthSecrets, fragments: []string{"9 secrets; at most 8"}},
		{name: "empty item", set: map[string]string{varAuthSecrets: testSecret + ",,"},
			wantVar: varAuthSecrets, fragments: []string{"item 2 of 3 is empty"}},
		{name: "users only", set: map[string]string{varAuthSecrets: "<unset>", varUsers: "alice:pw1, bob:p:w:2"},
			check: func(c *Config) bool {
				return len(c.AuthSecrets) == 0 && len(c.Users) == 2 &&
					c.Users[0].Name == "alice" && c.Users[0].Password.Expose() == "pw1" &&
					c.Users[1].Name == "bob" && c.Users[1].Password.Expose() == "p:w:2"
			}},
		{name: "user without password", set: map[string]string{varUsers: "alice"},
			wantVar: varUsers, fragments: []string{"user 1 has no ':'"}},
		{name: "user with empty password", set: map[string]string{varUsers: "alice:"},
			wantVar: varUsers, fragments: []string{"password must be non-empty printable ASCII"}},
		{name: "user with empty name", set: map[string]string{varUsers: ":pw"},
			wantVar: varUsers, fragments: []string{"name must be valid UTF-8"}},
		{name: "all-digit user", set: map[string]string{varUsers: "12345:pw"},
			wantVar: varUsers, fragments: []string{"TURN REST username"}},
		{name: "duplicate user", set: map[string]string{varUsers: "alice:a,alice:b"},
			wantVar: varUsers, fragments: []string{`user 2 ("alice") is listed twice`}},
		{name: "no credentials", set: map[string]string{varAuthSecrets: "<unset>"},
			wantVar: varAuthSecrets, fragments: []string{"TURNSTILE_USERS", "at least one is required"}},
		{name: "secrets and secrets file", set: map[string]string{varAuthSecretsFile: "/nonexistent"},
			wantVar: varAuthSecretsFile, fragments: []string{"both are set"}},
	})
}

func nineSecrets() string {
	s := make([]string, 9)
	for i := range s {
		s[i] = fmt.Sprintf("secret-number-%02d-padding", i)
	}
	return strings.Join(s, ",")
}

func TestAuthSecretsFile(t *testing.T) {
	good := writeFile(t, "secrets", "# rotated in 2025\n"+testSecret+"\r\n\n  another-secret-0123456789  \n")
	c, err := loadWith(map[string]string{varAuthSecrets: "<unset>", varAuthSecretsFile: good})
	if err != nil {
		t.Fatal(err)
	}
	if c.AuthSecretsFile != good || len(c.AuthSecrets) != 2 ||
		c.AuthSecrets[0].Expose() != testSecret || c.AuthSecrets[1].Expose() != "another-secret-0123456789" {
		t.Errorf("file %q, %d secrets", c.AuthSecretsFile, len(c.AuthSecrets))
	}

	for _, tc := range []struct {
		name, path string
		fragments  []string
	}{
		{"missing", filepath.Join(t.TempDir(), "absent"), []string{"no such file"}},
		{"empty", writeFile(t, "empty", "# nothing yet\n"), []string{"no secret"}},
		{"short secret", writeFile(t, "short", testSecret+"\nshort\n"), []string{"secret 2 is 5 bytes"}},
		{"repeated", writeFile(t, "rep", testSecret+"\n"+testSecret+"\n"), []string{"repeats"}},
		{"huge", writeFile(t, "huge", strings.Repeat("#\n", maxSecretsFileBytes)), []string{"not a secrets file"}},
		{"directory", t.TempDir(), []string{"is a directory"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadWith(map[string]string{varAuthSecrets: "<unset>", varAuthSecretsFile: tc.path})
			wantError(t, err, varAuthSecretsFile, append([]string{tc.path}, tc.fragments...)...)
			if err != nil && strings.Contains(err.Error(), testSecret) {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
}

func TestTLSVariables(t *testing.T) {
	cert, key := testcert.WriteFiles(t)
	_, otherKey := testcert.WriteFiles(t)
	tlsOn := func(extra map[string]string) map[string]string {
		m := map[string]string{varTLSListen: "192.0.2.1:5349"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	runVarCases(t, []varCase{
		{name: "valid pair", set: tlsOn(map[string]string{varTLSCertFile: cert, varTLSKeyFile: key}),
			check: func(c *Config) bool {
				return c.TLSCertFile == cert && c.TLSKeyFile == key && len(c.TLSListen) == 1
			}},
		{name: "no files", set: tlsOn(nil),
			wantVar: varTLSCertFile, fragments: []string{varTLSKeyFile, "both are required"}},
		{name: "no key", set: tlsOn(map[string]string{varTLSCertFile: cert}),
			wantVar: varTLSKeyFile, fragments: []string{"both are required"}},
		{name: "mismatched key", set: tlsOn(map[string]string{varTLSCertFile: cert, varTLSKeyFile: otherKey}),
			wantVar: varTLSCertFile, fragments: []string{"do not load as a key pair"}},
		{name: "missing cert file", set: tlsOn(map[string]string{varTLSCertFile: cert + ".gone", varTLSKeyFile: key}),
			wantVar: varTLSCertFile, fragments: []string{"no such file"}},
		{name: "files without listener", set: map[string]string{varTLSCertFile: cert, varTLSKeyFile: key},
			wantVar: varTLSCertFile, fragments: []string{"without TURNSTILE_TLS_LISTEN"}},
	})
}

// TestSecretsNeverShown loads every kind of secret and looks for their text
// in the printed and JSON forms of the Config.
func TestSecretsNeverShown(t *testing.T) {
	file := writeFile(t, "secrets", "file-secret-0123456789abcdef\n")
	const password = "user-password-42"
	for _, set := range []map[string]string{
		{varUsers: "alice:" + password},
		{varAuthSecrets: "<unset>", varAuthSecretsFile: file, varUsers: "alice:" + password},
	} {
		c, err := loadWith(set)
		if err != nil {
			t.Fatal(err)
		}
		js, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, out := range []string{fmt.Sprintf("%+v", c), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", c), string(js)} {
			for _, secret := range []string{testSecret, password, "file-secret-0123456789abcdef"} {
				if strings.Contains(out, secret) {
					t.Errorf("output shows a secret: %s", out)
				}
			}
			if !strings.Contains(out, "[redacted]") {
				t.Errorf("output shows no redaction: %s", out)
			}
		}
	}
	_, err := loadWith(map[string]string{varAuthSecrets: "short-secret", varUsers: "alice:pass\x01word"})
	if err == nil || strings.Contains(err.Error(), "short-secret") || strings.Contains(err.Error(), "pass\x01word") {
		t.Errorf("error shows a secret or is missing: %v", err)
	}
}

func TestReadAuthSecretsFile(t *testing.T) {
	path := writeFile(t, "secrets", testSecret+"\n")
	secrets, err := ReadAuthSecretsFile(path)
	if err != nil || len(secrets) != 1 || secrets[0].Expose() != testSecret {
		t.Fatalf("ReadAuthSecretsFile = %d secrets, %v", len(secrets), err)
	}
	short := writeFile(t, "short", "short-one\n")
	_, err = ReadAuthSecretsFile(short)
	wantError(t, err, varAuthSecretsFile, short, "at least 16")
	if err != nil && strings.Contains(err.Error(), "short-one") {
		t.Errorf("error shows the secret: %v", err)
	}
}
