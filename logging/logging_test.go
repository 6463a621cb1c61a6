package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// line is one decoded log line: its top-level keys in order (duplicates
// kept) and its values.
type line struct {
	keys   []string
	fields map[string]any
}

// parseLines decodes every line of out, failing the test on a line that is
// not exactly one JSON object.
func parseLines(t *testing.T, out string) []line {
	t.Helper()
	var lines []line
	for _, text := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if text == "" {
			continue
		}
		var l line
		if err := json.Unmarshal([]byte(text), &l.fields); err != nil {
			t.Fatalf("line %q is not a JSON object: %v", text, err)
		}
		dec := json.NewDecoder(strings.NewReader(text))
		if _, err := dec.Token(); err != nil { // '{'
			t.Fatalf("line %q: %v", text, err)
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				t.Fatalf("line %q: %v", text, err)
			}
			l.keys = append(l.keys, tok.(string))
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatalf("line %q: %v", text, err)
			}
		}
		lines = append(lines, l)
	}
	return lines
}

var nineDigitUTC = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$`)

// checkEnvelope asserts the first three keys and their formats, and that the
// line has exactly wantFields after them.
func checkEnvelope(t *testing.T, l line, wantFields ...string) {
	t.Helper()
	want := append([]string{"time", "severity", "message"}, wantFields...)
	if strings.Join(l.keys, ",") != strings.Join(want, ",") {
		t.Errorf("keys %v, want %v", l.keys, want)
	}
	ts, _ := l.fields["time"].(string)
	if !nineDigitUTC.MatchString(ts) {
		t.Errorf("time %q is not RFC 3339 UTC with nine fractional digits", ts)
	}
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		t.Errorf("time %q does not parse as RFC 3339: %v", ts, err)
	}
	switch l.fields["severity"] {
	case "TRACE", "DEBUG", "INFO", "WARN", "ERROR":
	default:
		t.Errorf("severity %v is not one of the five names", l.fields["severity"])
	}
}

func logAllLevels(l *slog.Logger) {
	for _, lv := range []Level{LevelTrace, LevelDebug, LevelInfo, LevelWarn, LevelError} {
		l.Log(context.Background(), slog.Level(lv), "at "+lv.String(), "user", "alice", "count", 3)
	}
}

func TestLinesAndLevelFiltering(t *testing.T) {
	all := []string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR"}
	for i, lv := range []Level{LevelTrace, LevelDebug, LevelInfo, LevelWarn, LevelError} {
		t.Run(lv.String(), func(t *testing.T) {
			var buf bytes.Buffer
			logAllLevels(New(&buf, lv))
			lines := parseLines(t, buf.String())
			if len(lines) != len(all)-i {
				t.Fatalf("%d lines at level %s, want %d:\n%s", len(lines), lv, len(all)-i, buf.String())
			}
			for j, l := range lines {
				checkEnvelope(t, l, "user", "count")
				if got, want := l.fields["severity"], all[i+j]; got != want {
					t.Errorf("line %d severity %v, want %s", j, got, want)
				}
				if got, want := l.fields["message"], "at "+all[i+j]; got != want {
					t.Errorf("line %d message %v, want %s", j, got, want)
				}
				if l.fields["user"] != "alice" || l.fields["count"] != 3.0 {
					t.Errorf("line %d fields %v", j, l.fields)
				}
			}
		})
	}
}

func TestTimeIsUTCWithNanoseconds(t *testing.T) {
	at := time.Date(2025, 1, 2, 4, 4, 5, 6, time.FixedZone("CET", 3600))
	a := renameBuiltins(nil, slog.Time(slog.TimeKey, at))
	if a.Key != "time" || a.Value.String() != "2025-01-02T03:04:05.000000006Z" {
		t.Errorf("time attribute %v, want time=2025-01-02T03:04:05.000000006Z", a)
	}
	back, err := time.Parse(time.RFC3339Nano, a.Value.String())
	if err != nil || !back.Equal(at) {
		t.Errorf("parsed back %v (%v), want %v", back, err, at)
	}
}

func TestSeverityNames(t *testing.T) {
	for _, tc := range []struct {
		l    slog.Level
		want string
	}{
		{slog.LevelDebug - 8, "TRACE"}, {slog.LevelDebug - 4, "TRACE"}, {slog.LevelDebug - 1, "TRACE"},
		{slog.LevelDebug, "DEBUG"}, {slog.LevelInfo - 1, "DEBUG"}, {slog.LevelInfo, "INFO"},
		{slog.LevelWarn, "WARN"}, {slog.LevelError, "ERROR"}, {slog.LevelError + 4, "ERROR"},
	} {
		if got := severity(tc.l); got != tc.want {
			t.Errorf("severity(%d) = %s, want %s", tc.l, got, tc.want)
		}
	}
	if b, err := LevelWarn.MarshalText(); err != nil || string(b) != "WARN" {
		t.Errorf("LevelWarn.MarshalText() = %q, %v", b, err)
	}
	if LevelInfo.Level() != slog.LevelInfo {
		t.Errorf("LevelInfo.Level() = %v", LevelInfo.Level())
	}
}

func TestParseLevel(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Level
		ok   bool
	}{
		{"trace", LevelTrace, true}, {"DEBUG", LevelDebug, true}, {"Info", LevelInfo, true},
		{"warn", LevelWarn, true}, {"ERROR", LevelError, true},
		{"", 0, false}, {"warning", 0, false}, {"fatal", 0, false}, {" info", 0, false},
	} {
		got, err := ParseLevel(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestReservedKeysAreRenamed(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, LevelInfo)
	l.Info("direct", "time", 1, "severity", "x", "message", "y", "level", 2, "msg", 3, "ok", true)
	l.With("time", "w").Info("with")
	l.Info("inlined group", slog.Group("", slog.String("message", "g"), slog.String("other", "o")))
	l.WithGroup("message").Info("group name", "time", "nested")
	l.Info("nested group", slog.Group("g", slog.String("time", "fine")))
	lines := parseLines(t, buf.String())
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5:\n%s", len(lines), buf.String())
	}
	checkEnvelope(t, lines[0], "attr_time", "attr_severity", "attr_message", "attr_level", "attr_msg", "ok")
	checkEnvelope(t, lines[1], "attr_time")
	checkEnvelope(t, lines[2], "attr_message", "other")
	checkEnvelope(t, lines[3], "attr_message")
	checkEnvelope(t, lines[4], "g")
	if lines[0].fields["message"] != "direct" || lines[0].fields["attr_message"] != "y" {
		t.Errorf("line 0 fields %v", lines[0].fields)
	}
	if nested, _ := lines[3].fields["attr_message"].(map[string]any); nested["time"] != "nested" {
		t.Errorf("line 3 group %v", lines[3].fields["attr_message"])
	}
}

func TestConcurrentLinesStayWhole(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, LevelInfo)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				l.Info("concurrent", "goroutine", g, "i", i, "pad", strings.Repeat("x", 100))
			}
		}()
	}
	wg.Wait()
	lines := parseLines(t, buf.String())
	if len(lines) != 8*200 {
		t.Fatalf("%d lines, want %d", len(lines), 8*200)
	}
	for _, ln := range lines {
		checkEnvelope(t, ln, "goroutine", "i", "pad")
	}
}

func TestNewWritesNothingBelowLevel(t *testing.T) {
	l := New(io.Discard, LevelError)
	if l.Enabled(context.Background(), slog.LevelWarn) {
		t.Error("WARN enabled on an ERROR logger")
	}
	if !l.Enabled(context.Background(), slog.LevelError) {
		t.Error("ERROR disabled on an ERROR logger")
	}
}
