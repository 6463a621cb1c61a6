package logging

import (
	"context"
	"fmt"
	"log/slog"

	pionlogging "github.com/pion/logging"
)

// NewPionFactory adapts l to pion's LoggerFactory, so pion/turn and pion/stun
// code (test clients, the load generator) logs through our JSON lines. Each
// pion logger carries its scope (e.g. "turnc") as the field "scope"; pion's
// levels map to ours one to one. Formatted messages are built only when
// their level is enabled. The factory and its loggers are safe for
// concurrent use.
func NewPionFactory(l *slog.Logger) pionlogging.LoggerFactory {
	return pionFactory{l: l}
}

type pionFactory struct{ l *slog.Logger }

func (f pionFactory) NewLogger(scope string) pionlogging.LeveledLogger {
	return pionLogger{l: f.l.With(slog.String("scope", scope))}
}

// pionLogger implements pionlogging.LeveledLogger.
type pionLogger struct{ l *slog.Logger }

func (p pionLogger) log(level Level, msg string) {
	p.l.Log(context.Background(), slog.Level(level), msg)
}

func (p pionLogger) logf(level Level, format string, args ...any) {
	ctx := context.Background()
	if !p.l.Enabled(ctx, slog.Level(level)) {
		return
	}
	p.l.Log(ctx, slog.Level(level), fmt.Sprintf(format, args...))
}

func (p pionLogger) Trace(msg string)                  { p.log(LevelTrace, msg) }
func (p pionLogger) Tracef(format string, args ...any) { p.logf(LevelTrace, format, args...) }
func (p pionLogger) Debug(msg string)                  { p.log(LevelDebug, msg) }
func (p pionLogger) Debugf(format string, args ...any) { p.logf(LevelDebug, format, args...) }
func (p pionLogger) Info(msg string)                   { p.log(LevelInfo, msg) }
func (p pionLogger) Infof(format string, args ...any)  { p.logf(LevelInfo, format, args...) }
func (p pionLogger) Warn(msg string)                   { p.log(LevelWarn, msg) }
func (p pionLogger) Warnf(format string, args ...any)  { p.logf(LevelWarn, format, args...) }
func (p pionLogger) Error(msg string)                  { p.log(LevelError, msg) }
func (p pionLogger) Errorf(format string, args ...any) { p.logf(LevelError, format, args...) }
