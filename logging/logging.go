// Package logging writes the relay's logs: JSON lines built on log/slog
// (docs/operations.md, Logs).
//
// Every line is one JSON object with
//
//	time      RFC 3339 in UTC with nine fractional digits, e.g. "2025-01-02T03:04:05.000000006Z"
//	severity  TRACE, DEBUG, INFO, WARN or ERROR
//	message   the log message
//
// followed by the structured fields of the call, so operators can read logs
// with jq -r '"\(.time) \(.severity) \(.message)"'. A top-level field whose
// key is one of those (or slog's own "level" and "msg") is renamed with the
// prefix "attr_" so that a line never carries a key twice.
//
// The package also provides what the rest of the relay needs to log safely:
// Secret (a string that never prints), Untrusted (a length-capped field for
// client-supplied text) and Sampler (rate limits for per-packet events).
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Level is a log severity. It is a slog.Level, with TRACE added below DEBUG.
type Level slog.Level

// The levels, in increasing severity.
const (
	LevelTrace = Level(slog.LevelDebug - 4)
	LevelDebug = Level(slog.LevelDebug)
	LevelInfo  = Level(slog.LevelInfo)
	LevelWarn  = Level(slog.LevelWarn)
	LevelError = Level(slog.LevelError)
)

// Level returns l as a slog.Level, so a Level is a slog.Leveler.
func (l Level) Level() slog.Level { return slog.Level(l) }

// String returns the severity name written in logs: TRACE, DEBUG, INFO,
// WARN or ERROR. A level between two names takes the lower one's name.
func (l Level) String() string { return severity(slog.Level(l)) }

// MarshalText returns the severity name, so configuration dumps show "INFO"
// rather than a number.
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// ParseLevel parses trace, debug, info, warn or error, in any letter case.
func ParseLevel(s string) (Level, error) {
	switch strings.ToLower(s) {
	case "trace":
		return LevelTrace, nil
	case "debug":
		return LevelDebug, nil
	case "info":
		return LevelInfo, nil
	case "warn":
		return LevelWarn, nil
	case "error":
		return LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q (want trace, debug, info, warn or error)", s)
}

// severity names any slog level by the highest named level at or below it.
func severity(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "TRACE"
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARN"
	}
	return "ERROR"
}

// Output keys of the three fields every line starts with.
const (
	keyTime     = "time"
	keySeverity = "severity"
	keyMessage  = "message"
)

// timeLayout is RFC 3339 with a fixed nine-digit fraction, so lines of one
// stream sort as text. time.RFC3339Nano parses it.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// New returns a logger writing JSON lines at level and above to w (normally
// os.Stderr). Each line is written with a single Write call; the logger is
// safe for concurrent use.
func New(w io.Writer, level Level) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level:       slog.Level(level),
		ReplaceAttr: renameBuiltins,
	})
	return slog.New(&guardHandler{next: h})
}

// renameBuiltins turns slog's built-in attributes into ours. It relies on
// guardHandler having renamed user attributes with the same keys, so a
// top-level "time", "level" or "msg" here is always slog's own.
func renameBuiltins(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		if a.Value.Kind() == slog.KindTime {
			var buf [len(timeLayout)]byte
			return slog.String(keyTime, string(a.Value.Time().UTC().AppendFormat(buf[:0], timeLayout)))
		}
	case slog.LevelKey:
		if l, ok := a.Value.Any().(slog.Level); ok {
			return slog.String(keySeverity, severity(l))
		}
	case slog.MessageKey:
		a.Key = keyMessage
	}
	return a
}
