package logging

import (
	"bytes"
	"testing"

	pionlogging "github.com/pion/logging"
)

// countingStringer records whether fmt asked for its text.
type countingStringer struct{ calls *int }

func (c countingStringer) String() string { *c.calls++; return "formatted" }

func TestPionFactory(t *testing.T) {
	var buf bytes.Buffer
	var factory pionlogging.LoggerFactory = NewPionFactory(New(&buf, LevelTrace))
	l := factory.NewLogger("turnc")
	l.Trace("t")
	l.Tracef("t%d", 1)
	l.Debug("d")
	l.Debugf("d%d", 1)
	l.Info("i")
	l.Infof("i%d", 1)
	l.Warn("w")
	l.Warnf("w%d", 1)
	l.Error("e")
	l.Errorf("e%d", 1)
	want := []struct{ severity, message string }{
		{"TRACE", "t"}, {"TRACE", "t1"}, {"DEBUG", "d"}, {"DEBUG", "d1"}, {"INFO", "i"},
		{"INFO", "i1"}, {"WARN", "w"}, {"WARN", "w1"}, {"ERROR", "e"}, {"ERROR", "e1"},
	}
	lines := parseLines(t, buf.String())
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		checkEnvelope(t, lines[i], "scope")
		f := lines[i].fields
		if f["severity"] != w.severity || f["message"] != w.message || f["scope"] != "turnc" {
			t.Errorf("line %d = %v, want %s %q scope turnc", i, f, w.severity, w.message)
		}
	}
}

func TestPionFactoryFiltersAndFormatsLazily(t *testing.T) {
	var buf bytes.Buffer
	l := NewPionFactory(New(&buf, LevelWarn)).NewLogger("stun")
	calls := 0
	arg := countingStringer{&calls}
	l.Tracef("%v", arg)
	l.Debugf("%v", arg)
	l.Infof("%v", arg)
	l.Info("dropped")
	if calls != 0 || buf.Len() != 0 {
		t.Errorf("disabled levels formatted %d times and wrote %q", calls, buf.String())
	}
	l.Warnf("%v", arg)
	if calls != 1 {
		t.Errorf("enabled level formatted %d times, want 1", calls)
	}
	lines := parseLines(t, buf.String())
	if len(lines) != 1 || lines[0].fields["message"] != "formatted" {
		t.Errorf("lines %v", lines)
	}
}
