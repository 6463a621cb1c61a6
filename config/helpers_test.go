package config

import (
	"errors"
	"strings"
	"testing"
)

// testSecret is a valid TURN REST secret whose text must never be printed.
const testSecret = "test-secret-0123456789abcdef"

// baseEnv is the smallest valid non-development environment.
func baseEnv() map[string]string {
	return map[string]string{
		varUDPListen:   "192.0.2.1:3478",
		varAuthSecrets: testSecret,
		"HOME":         "/root", // unrelated variables are ignored
	}
}

// environ renders m as os.Environ would.
func environ(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// loadWith loads baseEnv with overrides applied; a value of "<unset>"
// removes the variable.
func loadWith(overrides map[string]string) (*Config, error) {
	env := baseEnv()
	for k, v := range overrides {
		if v == "<unset>" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	return Load(environ(env))
}

// configErrors returns every *Error in err.
func configErrors(t *testing.T, err error) []*Error {
	t.Helper()
	var out []*Error
	var walk func(error)
	walk = func(e error) {
		var ce *Error
		if errors.As(e, &ce) && ce == e {
			out = append(out, ce)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, inner := range j.Unwrap() {
				walk(inner)
			}
			return
		}
		t.Errorf("error %v (%T) is not a *config.Error", e, e)
	}
	if err != nil {
		walk(err)
	}
	return out
}

// wantError asserts that err holds an *Error naming variable whose text
// contains every fragment, and that every line of err names a variable.
func wantError(t *testing.T, err error, variable string, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one naming %s", variable)
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.HasPrefix(line, "TURNSTILE_") {
			t.Errorf("error line %q does not start with a variable name", line)
		}
	}
	for _, ce := range configErrors(t, err) {
		if !strings.Contains(ce.Var, variable) {
			continue
		}
		text := ce.Error()
		ok := strings.HasPrefix(text, ce.Var+": ")
		for _, f := range fragments {
			ok = ok && strings.Contains(text, f)
		}
		if ok {
			return
		}
	}
	t.Errorf("error %q has no part naming %s containing %q", err, variable, fragments)
}
