package auth

import (
	"errors"
	"fmt"
	"regexp"
	"testing"
)

func TestReasonStrings(t *testing.T) {
	label := regexp.MustCompile(`^[a-z][a-z_]*$`)
	seen := map[string]Reason{}
	all := Reasons()
	if len(all) != int(reasonCount) {
		t.Fatalf("Reasons() has %d entries, want %d", len(all), reasonCount)
	}
	for i, r := range all {
		if r != Reason(i) {
			t.Errorf("Reasons()[%d] = %d", i, r)
		}
		s := r.String()
		if !label.MatchString(s) {
			t.Errorf("Reason %d label %q is not a metric-safe identifier", r, s)
		}
		if prev, dup := seen[s]; dup {
			t.Errorf("Reasons %d and %d share label %q", prev, r, s)
		}
		seen[s] = r
	}
	if got := Reason(200).String(); got != "unknown" {
		t.Errorf("out-of-range Reason String = %q", got)
	}
}

func TestReasonOf(t *testing.T) {
	tests := []struct {
		err  error
		want Reason
	}{
		{nil, ReasonOK},
		{ErrUnknownUser, ReasonUnknownUser},
		{ErrMalformedUsername, ReasonMalformedUsername},
		{ErrExpired, ReasonExpired},
		{ErrTooFarFuture, ReasonTooFarFuture},
		{ErrWrongRealm, ReasonWrongRealm},
		{fmt.Errorf("wrapped: %w", ErrExpired), ReasonExpired},
		{&CredentialError{ReasonTooFarFuture}, ReasonTooFarFuture},
		{errors.New("plain"), ReasonRefused},
	}
	for _, tc := range tests {
		if got := ReasonOf(tc.err); got != tc.want {
			t.Errorf("ReasonOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if got := ErrExpired.Error(); got != "auth: expired" {
		t.Errorf("ErrExpired.Error() = %q", got)
	}
}
