package config

import (
	"fmt"
	"strings"
)

// Error is one configuration problem. Load returns all problems it finds,
// joined with errors.Join; errors.As finds the first *Error.
type Error struct {
	// Var names the variable at fault, or several joined by ", " when the
	// problem is their combination.
	Var string
	// Value is the offending text, or empty when it is secret or the
	// problem is an absence.
	Value string
	// Reason says what is wrong, in words an operator can act on.
	Reason string
}

// Error formats as `VAR: "value": reason`, or `VAR: reason` without a value.
func (e *Error) Error() string {
	if e.Value == "" {
		return e.Var + ": " + e.Reason
	}
	return fmt.Sprintf("%s: %q: %s", e.Var, e.Value, e.Reason)
}

// problems collects the errors of one Load.
type problems struct{ errs []error }

// add records a problem with a visible value.
func (p *problems) add(name, value, format string, args ...any) {
	p.errs = append(p.errs, &Error{Var: name, Value: value, Reason: fmt.Sprintf(format, args...)})
}

// addSecret records a problem without showing the value.
func (p *problems) addSecret(name, format string, args ...any) {
	p.add(name, "", format, args...)
}

// addVars records a problem of several variables together.
func (p *problems) addVars(names []string, format string, args ...any) {
	p.add(strings.Join(names, ", "), "", format, args...)
}
